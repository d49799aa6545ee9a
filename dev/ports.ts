import { createServer } from 'node:net';

/** A port the OS reports free on 127.0.0.1 right now (listen on 0, read it, close). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('could not pick a free port'))));
    });
  });
}

/** Several distinct free ports (held open together so none is handed out twice). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => {
      const server = createServer();
      server.unref();
      return new Promise<{ port: number; close(): Promise<void> }>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => {
          const address = server.address();
          resolve({
            port: typeof address === 'object' && address ? address.port : 0,
            close: () => new Promise((done) => server.close(() => done())),
          });
        });
      });
    }),
  );
  await Promise.all(servers.map((s) => s.close()));
  return servers.map((s) => s.port);
}

/** True when nothing listens on host:port (we could bind it). */
export async function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}
