/** A TCP proxy in front of the stack, for tests that cut the network or block WebSockets like a hostile proxy. */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TestProxy {
  url: string;
  /** Drops every open connection (the proxy keeps listening, so clients can reconnect). */
  cut(): void;
  close(): Promise<void>;
}

/** `blockWebSockets`: a connection whose request asks for a WebSocket upgrade is dropped at once. */
export async function startTestProxy(target: string, options: { blockWebSockets?: boolean } = {}): Promise<TestProxy> {
  const { hostname, port } = new URL(target);
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    open.add(client);
    client.on('close', () => open.delete(client));
    client.once('data', (first) => {
      if (options.blockWebSockets && /^upgrade:\s*websocket/im.test(first.toString('latin1'))) {
        client.destroy();
        return;
      }
      const upstream = connect({ host: hostname, port: Number(port) });
      open.add(upstream);
      upstream.on('close', () => open.delete(upstream));
      upstream.write(first);
      client.pipe(upstream).on('error', () => client.destroy());
      upstream.pipe(client).on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('proxy has no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    cut() {
      for (const socket of open) socket.destroy();
    },
    close() {
      for (const socket of open) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
