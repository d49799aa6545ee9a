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
  try {
    const result = await bounded(CHECK_TIMEOUT_MS, () => pool.query('select 1 as ok'));
    return result.rows[0]?.ok === 1;
  } catch {
    return false;
  } finally {
    await bounded(500, () => pool.end()).catch(() => undefined);
  }
}

/**
 * `work`, or a rejection once `ms` have passed. The driver can lose a connection and never settle (seen
 * when 500 rooms log in at once), so every wait on Postgres is bounded; an abandoned attempt that fails
 * later is not reported as an unhandled rejection.
 */
export async function bounded<T>(ms: number, work: () => Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Postgres did not answer within ${ms} ms`)), ms);
  });
  const running = work();
  running.catch(() => undefined);
  try {
    return await Promise.race([running, timeout]);
  } finally {
    if (timer !== null) clearTimeout(timer);
  }
}
