import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { ensureDatabase, migrateDatabase } from './migrate';
import type { PostgresServer } from './postgres';

/**
 * Lets Worker tests (which cannot spawn processes) drive the local Postgres:
 *   POST /postgres/stop      → {running:false} once the server has exited
 *   POST /postgres/start     → {running:true} once it accepts connections again (same port, same data)
 *   POST /postgres/pause     → {paused:true}: every Postgres process frozen, connections hang (SIGSTOP)
 *   POST /postgres/resume    → {paused:false}
 *   GET  /postgres/status    → {running}
 *   POST /postgres/databases → {database, url}: a new empty database (`?migrate=1`: with migrations applied)
 *   POST /postgres/migrate?database=NAME → {migrated:true}: runs dev/migrate.ts on it (`&upto=TAG`: up to that one)
 * and stands in for an OpenAI-compatible agent whose health probes are counted (AGENTCORE_PROTOCOL=openai,
 * AGENTCORE_URL=<this>/probe/<tag>):
 *   GET  /probe/<tag>/models → a model list, counted under <tag>
 *   GET  /probe/<tag>/count  → {probes}: how many times <tag>/models was asked
 */
export async function startControlServer(opts: {
  port: number;
  postgres: PostgresServer;
  wsProxy: string;
}): Promise<{ url: string; close(): Promise<void> }> {
  const { postgres, wsProxy } = opts;
  // One operation at a time: a start racing a stop would leave the state unknown.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(op: () => Promise<T>): Promise<T> => {
    const next = queue.then(op, op);
    queue = next.catch(() => undefined);
    return next;
  };

  const routes: Record<string, (url: URL) => Promise<unknown>> = {
    'POST /postgres/stop': () => serial(() => postgres.stop()).then(() => ({ running: false })),
    'POST /postgres/start': () => serial(() => postgres.start()).then(() => ({ running: true })),
    'POST /postgres/pause': () => serial(async () => postgres.pause(true)).then(() => ({ paused: true })),
    'POST /postgres/resume': () => serial(async () => postgres.pause(false)).then(() => ({ paused: false })),
    'GET /postgres/status': async () => ({ running: postgres.running() }),
    'POST /postgres/databases': (url) =>
      serial(async () => {
        const database = `test_${randomBytes(6).toString('hex')}`;
        await ensureDatabase(postgres.url(), database, { wsProxy });
        if (url.searchParams.get('migrate') === '1') await migrateDatabase(postgres.url(database), { wsProxy });
        return { database, url: postgres.url(database) };
      }),
    'POST /postgres/migrate': (url) =>
      serial(async () => {
        const database = url.searchParams.get('database') ?? '';
        if (!/^[a-z_][a-z0-9_]*$/.test(database)) throw new Error('database: a plain lower-case name');
        const upTo = url.searchParams.get('upto') ?? undefined;
        await migrateDatabase(postgres.url(database), { wsProxy, ...(upTo ? { upTo } : {}) });
        return { migrated: true };
      }),
  };

  const probes = new Map<string, number>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://control');
    const probe = /^\/probe\/([\w-]{1,64})\/(models|count)$/.exec(url.pathname);
    if (probe?.[1] && req.method === 'GET') {
      const tag = probe[1];
      req.resume();
      if (probe[2] === 'count') return send(res, 200, { probes: probes.get(tag) ?? 0 });
      probes.set(tag, (probes.get(tag) ?? 0) + 1);
      return send(res, 200, { object: 'list', data: [] });
    }
    const route = routes[`${req.method} ${url.pathname}`];
    req.resume();
    if (!route) return send(res, 404, { error: `no route ${req.method} ${url.pathname}` });
    route(url).then(
      (body) => send(res, 200, body),
      (err: unknown) => send(res, 500, { error: err instanceof Error ? err.message : String(err) }),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
