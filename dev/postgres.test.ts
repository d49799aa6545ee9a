import { spawn } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nodePool } from './migrate';
import { startNeonProxy } from './neon-proxy';
import { freePort } from './ports';
import { type PostgresServer, startPostgres } from './postgres';
import { alive } from './processes';
import { makeTempDataDir, ROOT } from './stack';

const servers: PostgresServer[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const server of servers) await server.stop();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function dataDir(): Promise<string> {
  const dir = await makeTempDataDir('agent-chat-pg-test-');
  dirs.push(dir);
  return join(dir, 'pg');
}

async function start(dataDir: string, port?: number): Promise<PostgresServer> {
  const server = await startPostgres({ dataDir, port: port ?? (await freePort()), ephemeral: true });
  servers.push(server);
  return server;
}

describe('embedded Postgres', () => {
  it('keeps its data across stop and start, on the same port', async () => {
    const server = await start(await dataDir());
    const proxy = await startNeonProxy({ port: 0, postgresPort: server.port });
    const query = async (sql: string) => {
      const pool = nodePool(server.url(), proxy.wsProxy);
      try {
        return (await pool.query(sql)).rows;
      } finally {
        await pool.end();
      }
    };
    try {
      await query('create table kept (n int); insert into kept values (42)');
      await server.stop();
      expect(server.running()).toBe(false);
      await expect(query('select 1')).rejects.toThrow();
      await server.start();
      expect(await query('select n from kept')).toEqual([{ n: 42 }]);
    } finally {
      await proxy.close();
    }
  });

  it('explains in one line why it cannot start', async () => {
    const busy = await start(await dataDir());
    const other = await dataDir();
    await expect(start(other, busy.port)).rejects.toThrow(
      `PostgreSQL could not listen on 127.0.0.1:${busy.port}: the port is in use; free it or pick another port.`,
    );
    await expect(start(busy.dataDir)).rejects.toThrow(
      /^PostgreSQL is already running on .* \(pid \d+\): stop the other/,
    );
    await writeFile(join(other, 'PG_VERSION'), '16\n');
    await expect(start(other)).rejects.toThrow(`PostgreSQL data in ${other} was made by version 16, this is 17`);
  });

  it('stops by itself when the process that started it dies', async () => {
    const dir = await dataDir();
    const script = `import { startPostgres } from './dev/postgres.ts';
      const pg = await startPostgres({ dataDir: ${JSON.stringify(dir)}, port: ${await freePort()}, ephemeral: true });
      console.log(String(await import('node:fs').then((fs) => fs.readFileSync(pg.dataDir + '/postmaster.pid', 'utf8').split('\\n')[0])));
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const pid = await new Promise<number>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(Number(d))));
    expect(alive([pid])).toEqual([pid]);
    child.kill('SIGKILL');
    const deadline = Date.now() + 10_000;
    while (alive([pid]).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(alive([pid])).toEqual([]);
  });
});
