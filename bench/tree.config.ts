import { cloudflareTest } from '@cloudflare/vitest-pool-workers';
import { defineConfig } from 'vitest/config';
import { isolateDevVars, pickTestPorts, workerBindings } from '../dev/test-env.ts';

/** `npm run bench:tree`: worker/room/tree.bench.ts in workerd, beside the test services. */
for (const key of ['WRANGLER_SEND_METRICS', 'WRANGLER_SEND_ERROR_REPORTS', 'CLOUDFLARE_CF_FETCH_ENABLED']) {
  process.env[key] ??= 'false';
}
isolateDevVars();

export default defineConfig(async () => {
  const ports = await pickTestPorts();
  return {
    plugins: [
      cloudflareTest({
        main: './worker/index.ts',
        wrangler: { configPath: './wrangler.toml' },
        miniflare: { bindings: workerBindings(ports, { tightRateLimits: false }) },
      }),
    ],
    test: {
      include: ['worker/room/tree.bench.ts'],
      globalSetup: ['./dev/test-global-setup.ts'],
      testTimeout: 600_000,
      hookTimeout: 180_000,
    },
  };
});
