import { defineConfig } from 'tsdown';

// The wire module (worker/wire.ts) is bundled in, types and all, so the package stands alone.
export default defineConfig({
  entry: ['src/index.ts'],
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  dts: true,
  sourcemap: true,
  clean: true,
});
