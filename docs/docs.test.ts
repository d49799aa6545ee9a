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
