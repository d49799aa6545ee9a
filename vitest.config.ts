import { mkdirSync } from 'node:fs';
import { cloudflareTest } from '@cloudflare/vitest-pool-workers';
import { defineConfig } from 'vitest/config';
import { isolateDevVars, pickTestPorts, workerBindings } from './dev/test-env.ts';

/**
 * Projects, run as groups one after another:
 *   node     dev/**\/*.test.ts, packages/**\/*.test.ts and docs/**\/*.test.ts (plain Node)
 *   stacks   the Node tests that start a whole stack (wrangler, workerd, Postgres): one file at a time, beside node
 *   workers  worker/**\/*.test.ts in workerd, rate limits high so tests don't trip over each other
 *   limits   worker/**\/*.limits.test.ts in workerd with tight rate limits (bursts of 5 per user, 3 per conversation)
 *            and 4 KiB of agent history (AGENTCORE_HISTORY_MAX_BYTES)
 *   lifetimes worker/**\/*.lifetimes.test.ts in workerd with 1 s tickets and a 2 s ping timeout, beside limits
 *   logs     worker/**\/*.logs.test.ts in workerd at LOG_LEVEL info (the others log warnings and errors only), beside limits
 *   outage   worker/**\/*.outage.test.ts in workerd, alone and one file at a time: they stop the shared Postgres
 * The global setup (dev/test-global-setup.ts) starts the local services on the ports picked here.
 */
// Never phone home from tests (wrangler's metrics, error reports and cf fetch are off on this network).
for (const key of ['WRANGLER_SEND_METRICS', 'WRANGLER_SEND_ERROR_REPORTS', 'CLOUDFLARE_CF_FETCH_ENABLED']) {
  process.env[key] ??= 'false';
}

// The stacks the Node tests start read a settings file of their own, not the developer's .dev.vars.
isolateDevVars();

/** Node tests that start whole stacks: two at once on a 2-core machine starve each other's start-up. */
const STACK_TESTS = ['dev/stack.test.ts', 'dev/start.test.ts', 'packages/client/src/client.test.ts'];

export default defineConfig(async () => {
  // wrangler.toml serves web/dist as assets; a clone that has not built the page yet still runs the tests.
  mkdirSync(new URL('./web/dist', import.meta.url), { recursive: true });
  const ports = await pickTestPorts();
  const workers = (
    name: string,
    include: string[],
    exclude: string[],
    settings: { tightRateLimits: boolean; shortLifetimes?: boolean; infoLogs?: boolean },
    groupOrder: number,
  ) => ({
    plugins: [
      cloudflareTest({
        main: './worker/index.ts',
        wrangler: { configPath: './wrangler.toml' },
        miniflare: { bindings: workerBindings(ports, settings) },
      }),
    ],
    test: {
      name,
      include,
      exclude: ['**/node_modules/**', ...exclude],
      testTimeout: 30_000,
      hookTimeout: 30_000,
      sequence: { groupOrder },
      ...(name === 'outage' ? { fileParallelism: false } : {}),
    },
  });
  return {
    test: {
      globalSetup: ['./dev/test-global-setup.ts'],
      projects: [
        {
          test: {
            name: 'node',
            include: ['dev/**/*.test.ts', 'packages/**/*.test.ts', 'docs/**/*.test.ts'],
            exclude: ['**/node_modules/**', ...STACK_TESTS],
            environment: 'node',
            testTimeout: 30_000,
            hookTimeout: 60_000,
            sequence: { groupOrder: 0 },
          },
        },
        {
          test: {
            name: 'stacks',
            include: STACK_TESTS,
            environment: 'node',
            fileParallelism: false,
            testTimeout: 30_000,
            hookTimeout: 180_000,
            sequence: { groupOrder: 0 },
          },
        },
        workers(
          'workers',
          ['worker/**/*.test.ts'],
          [
            'worker/**/*.limits.test.ts',
            'worker/**/*.lifetimes.test.ts',
            'worker/**/*.logs.test.ts',
            'worker/**/*.outage.test.ts',
          ],
          { tightRateLimits: false },
          1,
        ),
        workers('limits', ['worker/**/*.limits.test.ts'], [], { tightRateLimits: true }, 2),
        workers(
          'lifetimes',
          ['worker/**/*.lifetimes.test.ts'],
          [],
          { tightRateLimits: false, shortLifetimes: true },
          2,
        ),
        workers('logs', ['worker/**/*.logs.test.ts'], [], { tightRateLimits: false, infoLogs: true }, 2),
        workers('outage', ['worker/**/*.outage.test.ts'], [], { tightRateLimits: false }, 3),
      ],
    },
  };
});
