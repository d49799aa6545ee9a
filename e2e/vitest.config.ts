import { defineConfig } from 'vitest/config';

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
    // One retry for a whole browser test: under a full-suite load, the polling-fallback test has twice
    // stalled for 30 s (a page load, once a poll) and never in isolation; the cause is still open (see notes).
    retry: 1,
  },
});
