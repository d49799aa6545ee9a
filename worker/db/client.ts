import { neonConfig, Pool } from '@neondatabase/serverless';
import { drizzle, type NeonDatabase } from 'drizzle-orm/neon-serverless';
import type { Config } from '../config';
import * as schema from './schema';

export type Database = NeonDatabase<typeof schema>;

const CHECK_TIMEOUT_MS = 2_000;

/**
 * Locally the driver reaches the embedded Postgres through dev/neon-proxy.ts: plain ws://, no TLS, and no
 * pipelining (that only works against Neon's own proxy). The settings are per isolate and NEON_WS_PROXY is
 * never set in production, so setting them once is safe.
 */
function configureDriver(config: Config): void {
  if (!config.NEON_WS_PROXY || neonConfig.wsProxy === config.NEON_WS_PROXY) return;
  neonConfig.wsProxy = config.NEON_WS_PROXY;
  neonConfig.useSecureWebSocket = false;
  neonConfig.pipelineTLS = false;
  neonConfig.pipelineConnect = false;
  neonConfig.coalesceWrites = false;
}

/**
 * A Pool over WebSockets. In the Worker open one per request and end it (ctx.waitUntil(pool.end())):
 * its sockets belong to that request. A Durable Object may keep one for its lifetime, since its I/O is not
 * tied to a request; idle clients that die (Postgres restarted, the object hibernated) are dropped by the
 * pool and the next query opens a new connection.
 */
export function openPool(config: Config, options: { max?: number; connectionTimeoutMillis?: number } = {}): Pool {
  configureDriver(config);
  const pool = new Pool({
    connectionString: config.DATABASE_URL,
    max: options.max ?? 4,
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 10_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its connection is reported here; without a listener the emitter would throw.
  pool.on('error', () => {});
  return pool;
}

export function db(pool: Pool): Database {
  return drizzle({ client: pool, schema });
}

/** Readiness probe: can we run `select 1` within a couple of seconds? */
export async function checkPostgres(config: Config): Promise<boolean> {
  const pool = openPool(config, { max: 1, connectionTimeoutMillis: CHECK_TIMEOUT_MS });
  let timer: ReturnType<typeof setTimeout> | null = null;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([pool.query('select 1 as ok').then((r) => r.rows[0]?.ok === 1), timeout]);
  } catch {
    return false;
  } finally {
    if (timer !== null) clearTimeout(timer);
    await Promise.race([pool.end().catch(() => undefined), new Promise((r) => setTimeout(r, 500))]);
  }
}
