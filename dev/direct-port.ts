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
  /** Where connections go from now on; undefined while the Worker is down (the port is then closed: refused). */
  target(url: URL | undefined): Promise<void>;
  close(): Promise<void>;
}

/**
 * Sockets are only ever destroyed, never reset (`resetAndDestroy`): on Node 20 reset sockets of this process were
 * left open as file descriptors, and at exit Node spun at 100 % CPU forever waiting for their handles to close
 * (the browser tests' run never ended).
 */
export function startDirectPort(port: number): DirectPort {
  let server: Server | undefined;
  const open = new Set<Socket>();
  const cutAll = () => {
    for (const socket of open) socket.destroy();
  };
  const stop = async () => {
    const closing = server;
    server = undefined;
    cutAll();
    if (closing) await new Promise<void>((resolve) => closing.close(() => resolve()));
  };
  const serve = (target: URL) =>
    createServer((client) => {
      const upstream = connect(Number(target.port), target.hostname);
      for (const [socket, other] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        open.add(socket);
        socket.setNoDelay(true);
        // A clean end is passed on by pipe(); a failed side takes the other with it.
        socket.on('error', () => other.destroy());
        socket.on('close', (hadError) => {
          open.delete(socket);
          if (hadError) other.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
  return {
    async target(url) {
      // A new Worker: what was connected to the old one is cut, as it would be by the restart itself.
      await stop();
      if (!url) return;
      const next = serve(url);
      await new Promise<void>((resolve, reject) => {
        next.once('error', reject);
        next.listen(port, '127.0.0.1', () => resolve());
      });
      server = next;
    },
    close: stop,
  };
}

/** The Worker's address in the `DIRECT_URL=` line dev/wrangler-dev.ts prints each time the Worker is (re)loaded. */
const ANNOUNCE = 'DIRECT_URL=';
export function announcedWorker(line: string): URL | undefined {
  return line.startsWith(ANNOUNCE) ? new URL(line.slice(ANNOUNCE.length).trim()) : undefined;
}
