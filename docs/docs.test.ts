import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const docs = [
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
  'README.md',
];

/** Repository paths a document names in backticks (`worker/wire.ts`, `drizzle/`) or links to (…](websocket.md)). */
function citedPaths(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  const inCode = [
    ...text.matchAll(/`((?:worker|dev|docs|web|drizzle|bench|e2e|faults|bridges|packages|examples)\/[\w./-]*)`/g),
  ];
  const links = [...text.matchAll(/\]\(((?!https?:|#)[\w./-]+\.md)\)/g)].map((m) => join(file, '..', m[1] ?? ''));
  return [...inCode.map((m) => m[1] ?? ''), ...links];
}

describe('documentation', () => {
  it.each(docs)('%s cites only files that are in the repository', (file) => {
    const missing = citedPaths(file).filter((path) => !existsSync(join(root, path)));
    expect(missing).toEqual([]);
  });
});

describe('docs/monitoring.md', () => {
  /** Every string literal logged as a line's msg in the Worker's code: `log('info', 'reply', …)`. */
  function loggedMessages(dir: string): string[] {
    const found: string[] = [];
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) found.push(...loggedMessages(path));
      else if (entry.name.endsWith('.ts') && !entry.name.includes('.test.')) {
        const text = readFileSync(join(root, path), 'utf8');
        for (const m of text.matchAll(/\blog\(\s*[^,]+,\s*'([^']+)'/g)) found.push(m[1] ?? '');
      }
    }
    return found;
  }

  it('names, in its table of lines, every line the Worker logs and none it does not', () => {
    const text = readFileSync(join(root, 'docs/monitoring.md'), 'utf8');
    const table = text.slice(text.indexOf('| msg |'), text.indexOf('\n\n', text.indexOf('| msg |')));
    const documented = [...table.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1] ?? '');
    expect([...new Set(documented)].sort()).toEqual([...new Set(loggedMessages('worker'))].sort());
  });
});
