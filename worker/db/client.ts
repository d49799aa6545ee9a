import { type NeonQueryFunction, neon, neonConfig } from '@neondatabase/serverless';
import { drizzle, type NeonHttpDatabase } from 'drizzle-orm/neon-http';
import type { Config } from '../config';
import * as schema from './schema';

export type Database = NeonHttpDatabase<typeof schema>;

const CHECK_TIMEOUT_MS = 2_000;

/**
 * Every statement goes over Neon's HTTP endpoint: one HTTPS round trip per query or batch, no connection held.
 * A Worker cannot keep a WebSocket pool across requests (its sockets belong to the request that opened them), so
 * the WebSocket driver cost a pool, a TLS + Postgres + SCRAM handshake, per list request; and a Durable Object
 * that kept one held a Postgres connection per active room (docs/database.md, "Connections"). Neon's proxy
 * pools the connections behind the HTTP endpoint. The one transaction we need (the outbox's) is a batch.
 *
 * Locally NEON_WS_PROXY names dev/neon-proxy.ts, which serves the same endpoint at /sql over plain http.
 */
function configureDriver(config: Config): void {
  if (!config.NEON_WS_PROXY) return;
  const endpoint = `http://${config.NEON_WS_PROXY.replace(/\/v1$/, '')}/sql`;
  if (neonConfig.fetchEndpoint === endpoint) return;
  neonConfig.fetchEndpoint = endpoint;
}

const clients = new WeakMap<Config, { sql: NeonQueryFunction<false, false>; db: Database }>();

/** The query function and drizzle over it for this config: stateless, so one per isolate serves every request. */
function clientFor(config: Config) {
  let client = clients.get(config);
  if (!client) {
    configureDriver(config);
    const sql = neon(config.DATABASE_URL);
    client = { sql, db: drizzle({ client: sql, schema }) };
    clients.set(config, client);
  }
  return client;
}

export function db(config: Config): Database {
  return clientFor(config).db;
}

/** A statement with $1… parameters, for the tests and probes that speak SQL directly. */
export async function sqlQuery<T = Record<string, unknown>>(
  config: Config,
  text: string,
  params: unknown[] = [],
): Promise<T[]> {
  return (await clientFor(config).sql.query(text, params)) as T[];
}

/** Readiness probe: can we run `select 1` within a couple of seconds? */
export async function checkPostgres(config: Config): Promise<boolean> {
  try {
    const rows = await bounded(CHECK_TIMEOUT_MS, () => sqlQuery(config, 'select 1 as ok'));
    return rows[0]?.ok === 1;
  } catch {
    return false;
  }
}

/**
 * `work`, or a rejection once `ms` have passed. A request to Postgres can hang (seen when 500 rooms flushed at
 * once), so every wait on it is bounded; an abandoned attempt that fails later is not reported as an unhandled
 * rejection.
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
