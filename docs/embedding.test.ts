/** Every snippet of docs/embedding.md is compiled (TypeScript), loaded (settings) or checked (CSS, install steps). */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseVars } from '../dev/stack';
import { loadConfig } from '../worker/config';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const doc = readFileSync(join(ROOT, 'docs', 'embedding.md'), 'utf8');
const snippets = [...doc.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map(([, lang, code]) => ({
  lang: lang ?? '',
  code: code ?? '',
}));
const of = (lang: string) => snippets.filter((s) => s.lang === lang).map((s) => s.code);

describe('docs/embedding.md', () => {
  it('has only snippets this test knows how to check', () => {
    expect(new Set(snippets.map((s) => s.lang))).toEqual(new Set(['sh', 'ini', 'ts', 'tsx', 'css']));
  });

  it('compiles every TypeScript snippet against the packages', () => {
    // Inside the repository, so '@agent-chat/*' resolve to the workspace packages (their sources).
    const dir = join(ROOT, 'node_modules', '.cache', 'embedding-docs');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const files = [
      ...of('ts').map((code) => ({ code, ext: 'ts' })),
      ...of('tsx').map((code) => ({ code, ext: 'tsx' })),
    ];
    expect(files.length).toBeGreaterThanOrEqual(6);
    for (const [i, { code, ext }] of files.entries()) writeFileSync(join(dir, `snippet-${i}.${ext}`), code);
    writeFileSync(join(dir, 'css.d.ts'), "declare module '*.css';\n");
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'ESNext',
          moduleResolution: 'Bundler',
          lib: ['ES2023', 'DOM', 'DOM.Iterable'],
          jsx: 'react-jsx',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          isolatedModules: true,
          verbatimModuleSyntax: true,
          customConditions: ['agent-chat-source'],
          types: [],
        },
        include: ['*.ts', '*.tsx'],
      }),
    );
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], {
      encoding: 'utf8',
    });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
    // tsc over the snippets took 61 s once on a loaded 2-core machine.
  }, 180_000);

  it('gives settings the Worker loads as a JWKS configuration with the dashboard origin allowed', () => {
    const [settings] = of('ini');
    const vars = parseVars(settings ?? '');
    const config = loadConfig({
      ...vars,
      DATABASE_URL: 'postgres://127.0.0.1/agentchat',
      AGENTCORE_URL: 'http://127.0.0.1:9/',
    });
    expect(config.AUTH_JWKS_URL).toBe(vars.AUTH_JWKS_URL);
    expect([config.AUTH_ISSUER, config.AUTH_AUDIENCE]).toEqual([vars.AUTH_ISSUER, vars.AUTH_AUDIENCE]);
    expect(config.ALLOWED_ORIGINS).toEqual(['https://dashboard.example.com']);
  });

  it('names custom properties and a theme selector the styles define', () => {
    const styles = readFileSync(join(ROOT, 'packages', 'react', 'src', 'styles.css'), 'utf8');
    for (const code of of('css')) {
      const selector = code.slice(0, code.indexOf('{')).trim();
      expect(styles).toContain(`${selector} {`);
      for (const [, name] of code.matchAll(/(--[\w-]+):/g)) expect(styles).toContain(`${name}:`);
    }
    const listed = /custom properties on\s+`\.agent-chat` \(([^)]*)\)/.exec(doc.replace(/\n/g, ' '))?.[1] ?? '';
    for (const [, name] of listed.matchAll(/`(--[\w-]+)`/g)) expect(styles).toContain(`${name}:`);
  });

  it('packs tarballs under the names the install step uses', () => {
    const [install] = of('sh');
    for (const name of ['client', 'react']) {
      const pkg = JSON.parse(readFileSync(join(ROOT, 'packages', name, 'package.json'), 'utf8'));
      expect(install).toContain(`agent-chat-${name}-${pkg.version}.tgz`);
      expect(install).toContain(`packages/${name}`);
    }
  });
});
