/**
 * Postgres from the Worker: the conversation list read the old way (a WebSocket pool opened and ended per
 * request, as a Worker must since its sockets die with the request) and the new way (`neon()` over HTTP, what
 * worker/db/client.ts does now; locally served by dev/neon-http.ts with a warm pool, as Neon's proxy is).
 * Embedded PostgreSQL, dev/neon-proxy.ts, the real worker/db/conversations.ts query. Prints latency and the
 * Postgres backends the reads held at most; it asserts nothing.
 *
 *   npx tsx bench/postgres.ts
 *
 * Locally there is no network between the parts, so the figures are the floor: against Neon each of the
 * WebSocket path's round trips (WebSocket upgrade over TLS, startup, SCRAM, query) costs the Worker→Neon RTT,
 * and the HTTP path's one round trip costs it once.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { desc, eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/neon-serverless';
import { ensureDatabase, migrateDatabase, nodePool } from '../dev/migrate';
import { startNeonProxy } from '../dev/neon-proxy';
import { freePort } from '../dev/ports';
import { startPostgres } from '../dev/postgres';
import { makeTempDataDir } from '../dev/stack';
import type { Config } from '../worker/config';
import { listConversations } from '../worker/db/conversations';
import { conversationStates } from '../worker/db/schema';

const USER = 'bench-user';
const ROUNDS = 200;
const CONCURRENT = 50;

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

async function main() {
  const dir = await makeTempDataDir('agent-chat-bench-pg-');
  const postgres = await startPostgres({ dataDir: join(dir, 'pg'), port: await freePort(), ephemeral: true });
  const proxy = await startNeonProxy({ port: 0, postgresPort: postgres.port });
  const admin = nodePool(postgres.url(), proxy.wsProxy);
  try {
    await ensureDatabase(postgres.url(), 'bench', { wsProxy: proxy.wsProxy });
    const url = postgres.url('bench');
    await migrateDatabase(url, { wsProxy: proxy.wsProxy });
    const seed = nodePool(url, proxy.wsProxy);
    await seed.query(
      `insert into conversation_states (id, user_id, title, created_at, updated_at, last_message_at, message_count, metadata)
       select gen_random_uuid(), $1, 'c' || i, now(), now(), now() - i * interval '1 minute', 2, '{}'::jsonb
       from generate_series(1, 200) i`,
      [USER],
    );
    await seed.end();

    const config = { DATABASE_URL: url, NEON_WS_PROXY: proxy.wsProxy } as Config;
    const wsPoolPerRequest = async () => {
      const pool = nodePool(url, proxy.wsProxy);
      try {
        const t = conversationStates;
        await drizzle({ client: pool })
          .select()
          .from(t)
          .where(eq(t.userId, USER))
          .orderBy(desc(t.pinned), desc(t.lastMessageAt), desc(t.id))
          .limit(21);
      } finally {
        await pool.end();
      }
    };
    const http = () => listConversations(config, USER, { limit: 20, archived: false }).then(() => undefined);

    console.log(`list of 20 conversations, ${ROUNDS} in a row, then ${CONCURRENT} at once`);
    for (const [name, read] of [
      ['websocket pool per request (before)', wsPoolPerRequest],
      ['neon() over HTTP (now)', http],
    ] as const) {
      await read();
      const serial: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const started = performance.now();
        await read();
        serial.push(performance.now() - started);
      }
      let peak = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const { rows } = await admin.query<{ n: number }>(
            "select count(*)::int as n from pg_stat_activity where datname = 'bench'",
          );
          peak = Math.max(peak, rows[0]?.n ?? 0);
        }
      })();
      const started = performance.now();
      await Promise.all(Array.from({ length: CONCURRENT }, read));
      const burst = performance.now() - started;
      sampling = false;
      await sampler;
      console.log(
        `  ${name}: p50 ${pct(serial, 50).toFixed(2)} ms, p95 ${pct(serial, 95).toFixed(2)} ms; ` +
          `${CONCURRENT} at once ${burst.toFixed(0)} ms, Postgres backends at most ${peak}`,
      );
    }
  } finally {
    await admin.end().catch(() => undefined);
    await proxy.close();
    await postgres.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
