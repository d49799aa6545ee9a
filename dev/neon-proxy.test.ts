import { rm, unlink } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { neon, neonConfig } from '@neondatabase/serverless';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { nodePool } from './migrate';
import { startNeonProxy } from './neon-proxy';
import { freePort } from './ports';
import { type PostgresServer, startPostgres } from './postgres';
import { makeTempDataDir } from './stack';

let dir: string;
let postgres: PostgresServer;
let proxy: Awaited<ReturnType<typeof startNeonProxy>>;
let other: Server;

beforeAll(async () => {
  dir = await makeTempDataDir('agent-chat-proxy-test-');
  postgres = await startPostgres({ dataDir: join(dir, 'pg'), port: await freePort(), ephemeral: true });
  proxy = await startNeonProxy({ port: 0, postgresPort: postgres.port });
  // Another local service, as a developer's machine has them: the proxy must not become a way to it.
  other = createServer((_req, res) => res.end('private\n'));
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
}, 60_000);

afterAll(async () => {
  await proxy?.close();
  await postgres?.stop();
  await new Promise<void>((resolve) => (other ? other.close(() => resolve()) : resolve()));
  await rm(dir, { recursive: true, force: true });
});

async function query(url: string, sql: string): Promise<unknown[]> {
  const pool = nodePool(url, proxy.wsProxy);
  try {
    return (await pool.query(sql)).rows;
  } finally {
    await pool.end();
  }
}

/** What an upgrade to the proxy gets: 'open', or the HTTP status it was refused with. */
function upgrade(address: string, headers: Record<string, string> = {}): Promise<string | number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://${proxy.wsProxy}?address=${encodeURIComponent(address)}`, { headers });
    socket.once('open', () => {
      socket.close();
      resolve('open');
    });
    socket.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
    });
    socket.once('error', reject);
  });
}

describe('the local Neon proxy', () => {
  it('relays the driver to the embedded PostgreSQL', async () => {
    expect(await query(postgres.url(), 'select 1 as ok')).toEqual([{ ok: 1 }]);
    expect(await upgrade(`127.0.0.1:${postgres.port}`)).toBe('open');
  });

  it('refuses any upgrade from a browser page (it carries an Origin)', async () => {
    expect(await upgrade(`127.0.0.1:${postgres.port}`, { origin: 'https://attacker.example' })).toBe(403);
    expect(await upgrade(`127.0.0.1:${postgres.port}`, { origin: 'null' })).toBe(403);
  });

  it('relays to no other local port', async () => {
    const port = (other.address() as { port: number }).port;
    expect(await upgrade(`127.0.0.1:${port}`)).toBe(403);
    expect(await upgrade(`localhost:${port}`)).toBe(403);
    expect(await upgrade('10.0.0.1:5432')).toBe(403);
    expect(await upgrade(`127.0.0.1:${postgres.port}0`)).toBe(403);
  });
});

describe('the local Neon HTTP endpoint (what neon() POSTs to)', () => {
  const sqlOf = (url: string) => {
    neonConfig.fetchEndpoint = `http://${proxy.wsProxy.replace(/\/v1$/, '')}/sql`;
    return neon(url);
  };
  const post = (headers: Record<string, string>) =>
    fetch(`http://${proxy.wsProxy.replace(/\/v1$/, '')}/sql`, {
      method: 'POST',
      headers: { 'neon-connection-string': postgres.url(), ...headers },
      body: JSON.stringify({ query: 'select 1', params: [] }),
    });

  it('answers a query with the driver parsing the types', async () => {
    const sql = sqlOf(postgres.url());
    expect(await sql.query('select $1::int + 1 as n, now() is not null as t', [41])).toEqual([{ n: 42, t: true }]);
  });

  it('runs a batch as one transaction: a failing statement rolls back the ones before it', async () => {
    const sql = sqlOf(postgres.url());
    await sql.query('create table if not exists batch_probe (id int primary key)');
    await expect(
      sql.transaction([sql`insert into batch_probe values (1)`, sql`insert into batch_probe values (1)`]),
    ).rejects.toMatchObject({ code: '23505' });
    expect(await sql.query('select count(*)::int as n from batch_probe')).toEqual([{ n: 0 }]);
  });

  it("keeps an idle connection open past the 5 s of workerd's pool, so workerd is the one that closes it", async () => {
    // Node closed it at 5 s, as workerd's pool may reuse one: under load many of the Worker's fetches failed with
    // "Network connection lost" at once (outbox flushes), and the requests waiting on them were dropped.
    const [host, port] = proxy.wsProxy.replace(/\/v1$/, '').split(':');
    const socket = connect({ host, port: Number(port) });
    let closedAfter: number | undefined;
    let answered = '';
    const sentAt = await new Promise<number>((resolve) => {
      socket.once('connect', () => {
        socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
        resolve(Date.now());
      });
    });
    socket.on('data', (d: Buffer) => {
      answered += d.toString();
    });
    socket.once('close', () => {
      closedAfter = Date.now() - sentAt;
    });
    await new Promise((r) => setTimeout(r, 6_500));
    expect(answered).toMatch(/^HTTP\/1\.1 426/);
    expect(closedAfter).toBeUndefined();
    socket.destroy();
  }, 20_000);

  it('refuses browser pages and any server but the local PostgreSQL', async () => {
    expect((await post({ origin: 'https://attacker.example' })).status).toBe(403);
    const port = (other.address() as { port: number }).port;
    expect((await post({ 'neon-connection-string': `postgres://u:p@127.0.0.1:${port}/x` })).status).toBe(403);
    expect((await post({ 'neon-connection-string': 'postgres://u:p@10.0.0.1:5432/x' })).status).toBe(403);
  });
});

describe('the embedded PostgreSQL password', () => {
  it('is random: the superuser cannot sign in as postgres/postgres', async () => {
    expect(new URL(postgres.url()).password).toMatch(/^[\w-]{32}$/);
    const fixed = postgres.url().replace(/:[^:@/]+@/, ':postgres@');
    await expect(query(fixed, 'select 1')).rejects.toThrow(/password authentication failed/);
  });

  it('an existing data directory with the old fixed password is switched to the new one on start', async () => {
    const dataDir = join(dir, 'old');
    const old = await startPostgres({ dataDir, port: await freePort(), password: 'postgres', ephemeral: true });
    await old.stop();
    // As a data directory made before passwords were random: no record of which password it has.
    await unlink(join(old.dataDir, 'agent-chat-password.sha256'));
    const fresh = await startPostgres({ dataDir, port: old.port, password: 'a-new-random-one', ephemeral: true });
    const switched = await startNeonProxy({ port: 0, postgresPort: fresh.port });
    const ask = async (url: string) => {
      const pool = nodePool(url, switched.wsProxy);
      try {
        return (await pool.query('select 1 as ok')).rows;
      } finally {
        await pool.end();
      }
    };
    try {
      expect(await ask(fresh.url())).toEqual([{ ok: 1 }]);
      await expect(ask(fresh.url().replace('a-new-random-one', 'postgres'))).rejects.toThrow(/password/);
    } finally {
      await switched.close();
      await fresh.stop();
    }
  }, 60_000);
});
