import { defineConfig } from 'vitest/config';
import { isolateDevVars } from '../dev/test-env.ts';

// The stacks read a settings file of their own, not the developer's .dev.vars (which may point elsewhere).
isolateDevVars();

/**
 * Browser and whole-stack tests (`npm run test:e2e`): plain Node. The global setup starts one stack (dev/stack.ts,
 * free ports) and one Chromium that the files share; a file that needs other settings (an agent of its own, tight
 * rate limits, a Worker it kills) starts its own stack. One file at a time: a stack is wrangler, workerd, Postgres.
 */
export default defineConfig({
  test: {
    name: 'e2e',
    root: new URL('..', import.meta.url).pathname,
    include: ['e2e/**/*.test.ts'],
    environment: 'node',
    globalSetup: ['e2e/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
    teardownTimeout: 60_000,
  },
});
