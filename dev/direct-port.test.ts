import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, test } from 'vitest';
import { announcedWorker, type DirectPort, startDirectPort } from './direct-port';
import { freePort } from './ports';

const servers: Server[] = [];
let port: DirectPort | undefined;
afterEach(async () => {
  await port?.close();
  for (const server of servers.splice(0)) await new Promise((done) => server.close(done));
});

/** An HTTP server that answers its name, and holds /hold open until the connection is cut. */
async function named(name: string): Promise<URL> {
  const server = createServer((req, res) => {
    if (req.url === '/hold') res.writeHead(200).write('held');
    else res.end(name);
  });
  servers.push(server);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  return new URL(`http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`);
}

describe('the direct port', () => {
  test('refuses while there is no Worker, then follows each announced Worker, cutting what the old one held', async () => {
    const at = await freePort();
    port = startDirectPort(at);
    await expect(fetch(`http://127.0.0.1:${at}/`)).rejects.toThrow();

    await port.target(await named('first'));
    expect(await (await fetch(`http://127.0.0.1:${at}/`)).text()).toBe('first');
    const held = await fetch(`http://127.0.0.1:${at}/hold`);
    const reading = held.text();

    await port.target(await named('second'));
    await expect(reading).rejects.toThrow();
    expect(await (await fetch(`http://127.0.0.1:${at}/`)).text()).toBe('second');
  });

  test('reads back the line the Worker process announces, and nothing else', () => {
    expect(announcedWorker('DIRECT_URL=http://127.0.0.1:4321')?.port).toBe('4321');
    expect(announcedWorker('⎔ Starting local server...')).toBeUndefined();
  });
});
