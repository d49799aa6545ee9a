import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startDevAgent } from './agentcore';
import { startControlServer } from './control-server';
import { startJwksServer } from './jwks-server';
import { ensureDatabase, migrateDatabase } from './migrate';
import { startNeonProxy } from './neon-proxy';
import { startPostgres } from './postgres';
import { makeTempDataDir } from './stack';
import { readTestPorts, TEST_DATABASE } from './test-env';

type Closer = () => Promise<void>;

/**
 * Vitest global setup (runs once in Node before any project): a fresh Postgres with the migrations applied,
 * the WebSocket proxy the Worker reaches it through, the dev AgentCore, the JWKS server and the control
 * server, on the ports vitest.config.ts chose and bound into the Worker tests.
 */
export default async function setup(): Promise<Closer> {
  const ports = readTestPorts();
  const started = Date.now();
  const closers: Closer[] = [];
  const teardown: Closer = async () => {
    for (const close of closers.reverse()) await close().catch((err: unknown) => console.error('teardown:', err));
  };
  try {
    const dataDir = await makeTempDataDir('agent-chat-test-');
    closers.push(() => rm(dataDir, { recursive: true, force: true }));
    const postgres = await startPostgres({
      dataDir: join(dataDir, 'postgres'),
      port: ports.postgres,
      password: ports.pgPassword,
      ephemeral: true,
    });
    closers.push(() => postgres.stop());
    const proxy = await startNeonProxy({ port: ports.proxy, postgresPort: ports.postgres });
    closers.push(() => proxy.close());
    await ensureDatabase(postgres.url(), TEST_DATABASE, { wsProxy: proxy.wsProxy });
    await migrateDatabase(postgres.url(TEST_DATABASE), { wsProxy: proxy.wsProxy });

    closers.push(await startAgent(ports.agent));
    const jwks = await startJwksServer({ port: ports.jwks });
    closers.push(() => jwks.close());
    const control = await startControlServer({ port: ports.control, postgres, wsProxy: proxy.wsProxy });
    closers.push(() => control.close());
  } catch (err) {
    await teardown();
    throw err;
  }
  if (process.env.AGENTCHAT_TEST_VERBOSE) console.log(`test stack ready in ${Date.now() - started} ms`);
  return teardown;
}

async function startAgent(port: number): Promise<Closer> {
  const agent = await startDevAgent({ port });
  return () => agent.close();
}
