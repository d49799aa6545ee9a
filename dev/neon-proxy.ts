import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import { keepConnectionsLongerThanClients } from './keep-alive';
import { type NeonHttpCounts, neonHttpEndpoint } from './neon-http';

/**
 * The WebSocket→TCP relay @neondatabase/serverless expects (neonConfig.wsProxy = '127.0.0.1:PORT/v1'):
 * GET /v1?address=host:port upgrades, then binary frames are the Postgres wire protocol both ways.
 *
 * It listens on loopback, where any web page the developer opens can reach it too: so it refuses every
 * upgrade that carries an Origin (browsers always send one; the Neon driver in workerd and Node never does),
 * and relays only to the one PostgreSQL it was started for, never to another local port.
 */
export async function startNeonProxy(opts: {
  port: number;
  host?: string;
  /** The only server relayed to: the embedded PostgreSQL's port on 127.0.0.1. */
  postgresPort: number;
}): Promise<{
  /** The value for NEON_WS_PROXY, e.g. 127.0.0.1:5433/v1 */
  wsProxy: string;
  /** What the HTTP endpoint (POST /sql) has served so far. */
  counts(): NeonHttpCounts;
  close(): Promise<void>;
}> {
  const host = opts.host ?? '127.0.0.1';
  const sqlOverHttp = neonHttpEndpoint({ postgresPort: opts.postgresPort });
  const http: Server = createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/sql') return sqlOverHttp.handle(req, res);
    res.writeHead(426).end('WebSocket only\n');
  });
  keepConnectionsLongerThanClients(http);
  const wss = new WebSocketServer({
    server: http,
    path: '/v1',
    verifyClient: ({ req }: { req: IncomingMessage }, done: (ok: boolean, code?: number, message?: string) => void) => {
      if (req.headers.origin !== undefined) return done(false, 403, 'browser origins are refused');
      if (!isPostgres(targetOf(req), opts.postgresPort))
        return done(false, 403, 'only the local PostgreSQL is relayed');
      done(true);
    },
  });
  const sockets = new Set<Socket>();

  wss.on('connection', (ws: WebSocket) => {
    const tcp = connect({ host: '127.0.0.1', port: opts.postgresPort, noDelay: true });
    sockets.add(tcp);
    tcp.on('data', (data) => ws.send(data));
    tcp.on('close', () => {
      sockets.delete(tcp);
      ws.close();
    });
    // A refused connection (Postgres down) closes the socket cleanly, so the driver reports a connection error.
    tcp.on('error', () => ws.close(1011, 'postgres unreachable'));
    ws.on('message', (data: RawData) => tcp.write(toBuffer(data)));
    ws.on('close', () => tcp.end());
    ws.on('error', () => tcp.destroy());
  });

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(opts.port, host, () => resolve());
  });
  const address = http.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  return {
    wsProxy: `${host}:${port}/v1`,
    counts: () => sqlOverHttp.counts(),
    async close() {
      for (const tcp of sockets) tcp.destroy();
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await sqlOverHttp.close();
    },
  };
}

/** The `address` the driver asks for: host:port of the connection string. */
function targetOf(req: IncomingMessage): string {
  return new URL(req.url ?? '/', 'http://x').searchParams.get('address') ?? '';
}

function isPostgres(address: string, postgresPort: number): boolean {
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at);
  return (host === '127.0.0.1' || host === 'localhost') && address.slice(at + 1) === String(postgresPort);
}

function toBuffer(data: RawData): Buffer {
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.isBuffer(data) ? data : Buffer.from(data);
}
