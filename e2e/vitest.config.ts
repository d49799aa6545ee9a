import { defineConfig } from 'vitest/config';
import { isolateDevVars } from '../dev/test-env.ts';

// The stacks read a settings file of their own, not the developer's .dev.vars (which may point elsewhere).
isolateDevVars();

/**
 * Browser and whole-stack tests (`npm run test:e2e`): plain Node, each file starts its own stack
 * (dev/stack.ts) on free ports. One file at a time: every stack runs wrangler, workerd, Postgres and Chromium.
 */
export default defineConfig({
  test: {
    name: 'e2e',
    root: new URL('..', import.meta.url).pathname,
    include: ['e2e/**/*.test.ts'],
    environment: 'node',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
    teardownTimeout: 60_000,
  },
});
