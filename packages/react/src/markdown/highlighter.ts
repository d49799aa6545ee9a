/**
 * Code highlighting for Streamdown through @speed-highlight/core (≈9 KB gzip with every language) instead
 * of Shiki (megabytes of grammars); it is loaded on the first code block, not with the page.
 */
import type { CodeHighlighterPlugin, HighlightResult, HighlightToken } from 'streamdown';

type Tokenize = typeof import('@speed-highlight/core')['tokenize'];

const LANGUAGES = [
  'asm',
  'bash',
  'bf',
  'c',
  'css',
  'csv',
  'diff',
  'docker',
  'git',
  'go',
  'html',
  'http',
  'ini',
  'java',
  'js',
  'jsdoc',
  'json',
  'leanpub-md',
  'log',
  'lua',
  'make',
  'md',
  'pl',
  'plain',
  'py',
  'regex',
  'rs',
  'sql',
  'todo',
  'toml',
  'ts',
  'uri',
  'xml',
  'yaml',
];

const ALIASES: Record<string, string> = {
  javascript: 'js',
  jsx: 'js',
  mjs: 'js',
  cjs: 'js',
  typescript: 'ts',
  tsx: 'ts',
  python: 'py',
  rust: 'rs',
  shell: 'bash',
  sh: 'bash',
  zsh: 'bash',
  console: 'bash',
  yml: 'yaml',
  markdown: 'md',
  dockerfile: 'docker',
  golang: 'go',
  cpp: 'c',
  'c++': 'c',
  h: 'c',
  svg: 'xml',
  makefile: 'make',
  perl: 'pl',
  text: 'plain',
  txt: 'plain',
  patch: 'diff',
  jsonc: 'json',
};

function languageOf(name: string): string {
  const lower = name.toLowerCase();
  const known = ALIASES[lower] ?? lower;
  return LANGUAGES.includes(known) ? known : 'plain';
}

let tokenizer: Promise<Tokenize> | null = null;
function loadTokenizer(): Promise<Tokenize> {
  tokenizer ??= import('@speed-highlight/core').then((m) => m.tokenize);
  return tokenizer;
}

/** Finished blocks are highlighted once; a block still streaming is highlighted on each update instead. */
const cache = new Map<string, HighlightResult>();
const CACHE_LIMIT = 200;

async function tokens(code: string, language: string): Promise<HighlightResult> {
  const tokenize = await loadTokenizer();
  const lines: HighlightToken[][] = [[]];
  await tokenize(code, language as Parameters<Tokenize>[1], (text, type) => {
    const pieces = text.split('\n');
    pieces.forEach((piece, i) => {
      if (i > 0) lines.push([]);
      if (!piece) return;
      const token: HighlightToken = { content: piece };
      if (type) token.color = `var(--syn-${type})`;
      lines[lines.length - 1]?.push(token);
    });
  });
  return { tokens: lines };
}

export const codeHighlighter: CodeHighlighterPlugin = {
  name: 'shiki',
  type: 'code-highlighter',
  getSupportedLanguages: () => [...LANGUAGES, ...Object.keys(ALIASES)],
  getThemes: () => ['light', 'dark'],
  supportsLanguage: () => true,
  highlight({ code, language, isIncomplete }, callback) {
    const lang = languageOf(language);
    const key = `${lang}\u0000${code}`;
    const cached = cache.get(key);
    if (cached) return cached;
    void tokens(code, lang).then((result) => {
      if (!isIncomplete) {
        if (cache.size >= CACHE_LIMIT) cache.clear();
        cache.set(key, result);
      }
      callback?.(result);
    });
    return null;
  },
};
