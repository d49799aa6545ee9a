import { createServer, type Server } from 'node:http';
import { connect, isIPv4, type Socket } from 'node:net';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';

/**
 * The WebSocket→TCP relay @neondatabase/serverless expects (neonConfig.wsProxy = '127.0.0.1:PORT/v1'):
 * GET /v1?address=host:port upgrades, then binary frames are the Postgres wire protocol both ways.
 * Only loopback targets are relayed, so this never becomes an open proxy.
 */
export async function startNeonProxy(opts: { port: number; host?: string }): Promise<{
  /** The value for NEON_WS_PROXY, e.g. 127.0.0.1:5433/v1 */
  wsProxy: string;
  close(): Promise<void>;
}> {
  const host = opts.host ?? '127.0.0.1';
  const http: Server = createServer((_req, res) => res.writeHead(426).end('WebSocket only\n'));
  const wss = new WebSocketServer({ server: http, path: '/v1' });
  const sockets = new Set<Socket>();

  wss.on('connection', (ws: WebSocket, req) => {
    const address = new URL(req.url ?? '/', 'http://x').searchParams.get('address') ?? '';
    const [target, portText] = address.split(':');
    const port = Number(portText);
    if (!target || !isLoopback(target) || !Number.isInteger(port) || port < 1 || port > 65535) {
      ws.close(1008, 'only loopback targets are allowed');
      return;
    }
    const tcp = connect({ host: target === 'localhost' ? '127.0.0.1' : target, port, noDelay: true });
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
    async close() {
      for (const tcp of sockets) tcp.destroy();
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || (isIPv4(host) && host.startsWith('127.'));
}

function toBuffer(data: RawData): Buffer {
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.isBuffer(data) ? data : Buffer.from(data);
}
