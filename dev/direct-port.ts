/**
 * The port a quiet stack (tests, benchmarks, the fault suite) serves on: a TCP pass-through to the Worker's own
 * workerd socket, in front of which `wrangler dev` 4.86 puts a proxy of its own (its ProxyWorker).
 *
 * Why not wrangler's proxy: after ≈5 s without traffic, its pooled connection to the Worker and the Worker's
 * keep-alive close at the same moment; a request written into that closing connection fails, and the proxy then
 * compares the request's whole URL with the Worker's root URL to tell a transient error from a restart. For any
 * path but `/` they differ, so it takes the error for a restart: a GET waits in a retry queue that only a restart
 * drains (forever: the page's `load` never came, a browser test stalled 30 s on `page.goto`), any other method gets
 * 503 "Your worker restarted mid-request". Fixed upstream (cloudflare/workers-sdk#15252, origin comparison) in
 * releases that need Node 22. Developers' `npm start` keeps wrangler's proxy, which also holds requests while a
 * rebuild reloads the Worker.
 *
 * The pass-through keeps one port across a Worker restart (`stack.worker.kill()` / `start()`): it follows the
 * address each new `wrangler dev` announces, and refuses connections while there is none, as a stopped Worker would.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface DirectPort {
  /** Where connections go from now on; undefined while the Worker is down (connections are then refused). */
  target(url: URL | undefined): void;
  close(): Promise<void>;
}

export async function startDirectPort(port: number): Promise<DirectPort> {
  let target: URL | undefined;
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    if (!target) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(Number(target.port), target.hostname);
    for (const [socket, other] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      open.add(socket);
      socket.setNoDelay(true);
      socket.on('error', () => other.resetAndDestroy());
      // A clean end is passed on by pipe(); a cut one is passed on as a cut (a reset, not a quiet end).
      socket.on('close', (hadError) => {
        open.delete(socket);
        if (hadError) other.resetAndDestroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    target(url) {
      target = url;
      // A new Worker: what was connected to the old one is cut, as it would be by the restart itself.
      for (const socket of open) socket.resetAndDestroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The Worker's address in the `DIRECT_URL=` line dev/wrangler-dev.ts prints each time the Worker is (re)loaded. */
const ANNOUNCE = 'DIRECT_URL=';
export function announcedWorker(line: string): URL | undefined {
  return line.startsWith(ANNOUNCE) ? new URL(line.slice(ANNOUNCE.length).trim()) : undefined;
}
