import { copyFileSync } from 'node:fs';
import { defineConfig } from 'tsdown';

// @agent-chat/client, React and the Markdown renderer stay imports (dependencies and peers), not bundled in.
export default defineConfig({
  entry: ['src/index.ts'],
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  dts: true,
  sourcemap: true,
  clean: true,
  hooks: {
    'build:done': () => copyFileSync('src/styles.css', 'dist/styles.css'),
  },
});
