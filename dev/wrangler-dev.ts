/**
 * `wrangler dev` for the local stack, through wrangler's own programmatic API (`unstable_startWorker`), so the
 * devtools inspector can stay off. The `wrangler dev` command always opens it, and its session enables the
 * Network domain: workerd then reports every subrequest to it. Measured here (bench/chat.ts and a bare Durable
 * Object): each fetch from the Worker took 2.0–2.4 ms with the inspector and 0.4 ms without, and the AgentCore
 * call is such a fetch on the path of every reply's first chunk. Production has no inspector.
 *
 * Run as a child of dev/stack.ts: `tsx dev/wrangler-dev.ts` with its settings as JSON in WRANGLER_DEV_OPTIONS.
 * It stops the Worker on SIGTERM or SIGINT; dev/stack.ts waits for /healthz to know it is up.
 *
 * It prints `DIRECT_URL=http://127.0.0.1:<port>` each time workerd is (re)started: the Worker's own address inside
 * workerd, behind wrangler's proxy. Load tests go there: the proxy is one Durable Object that every request passes
 * through, and when one of its fetches to workerd fails it answers a POST with 503 "Your worker restarted
 * mid-request" even when nothing restarted (wrangler 4.86 ProxyWorker compares the failed request's URL, path
 * included, with the Worker's origin, so the two never match for any path but /).
 */
import { join } from 'node:path';
import { unstable_DevEnv } from 'wrangler';

export interface WranglerDevOptions {
  root: string;
  port: number;
  envFile: string;
  persistTo: string;
  logLevel: 'log' | 'info' | 'warn';
  /** The devtools inspector's port, or null for none. */
  inspectorPort: number | null;
  /** Rebuild when a source file changes (as `wrangler dev` does). */
  watch: boolean;
}

async function main(): Promise<void> {
  const options = JSON.parse(process.env.WRANGLER_DEV_OPTIONS ?? '') as WranglerDevOptions;
  // unstable_startWorker is `new DevEnv().startWorker(…)`; holding the DevEnv lets us see where workerd listens.
  const devEnv = new unstable_DevEnv();
  const dispatch = devEnv.dispatch.bind(devEnv);
  devEnv.dispatch = (event) => {
    if (event.type === 'reloadComplete') {
      const { protocol, hostname, port } = event.proxyData.userWorkerUrl;
      console.log(`DIRECT_URL=${protocol}//${hostname}:${port}`);
    }
    dispatch(event);
  };
  const worker = await devEnv.startWorker({
    config: join(options.root, 'wrangler.toml'),
    envFiles: [options.envFile],
    dev: {
      server: { hostname: '127.0.0.1', port: options.port },
      inspector: options.inspectorPort === null ? false : { hostname: '127.0.0.1', port: options.inspectorPort },
      persist: options.persistTo,
      logLevel: options.logLevel,
      watch: options.watch,
    },
  });
  await worker.ready;
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    worker.dispose().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
