import { fileURLToPath, pathToFileURL } from 'node:url';
import { neonConfig, Pool } from '@neondatabase/serverless';
import { drizzle } from 'drizzle-orm/neon-serverless';
import { migrate } from 'drizzle-orm/neon-serverless/migrator';
import ws from 'ws';

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../drizzle', import.meta.url));

/**
 * A Neon-driver Pool from Node (which has no global WebSocket on Node 20). With wsProxy set it speaks to
 * dev/neon-proxy.ts without TLS, as the Worker does locally; without it, to Neon itself.
 */
export function nodePool(databaseUrl: string, wsProxy?: string): Pool {
  neonConfig.webSocketConstructor = ws;
  if (wsProxy) {
    neonConfig.wsProxy = wsProxy;
    neonConfig.useSecureWebSocket = false;
    neonConfig.pipelineTLS = false;
    neonConfig.pipelineConnect = false;
    neonConfig.coalesceWrites = false;
  }
  const pool = new Pool({ connectionString: databaseUrl, max: 2, connectionTimeoutMillis: 10_000 });
  pool.on('error', () => {});
  return pool;
}

/** Applies drizzle/ migrations (idempotent: drizzle records applied ones in drizzle.__drizzle_migrations). */
export async function migrateDatabase(databaseUrl: string, opts: { wsProxy?: string } = {}): Promise<void> {
  const pool = nodePool(databaseUrl, opts.wsProxy);
  try {
    await migrate(drizzle({ client: pool }), { migrationsFolder: MIGRATIONS_FOLDER });
  } finally {
    await pool.end();
  }
}

/** Creates `name` on the server of adminUrl unless it exists. */
export async function ensureDatabase(adminUrl: string, name: string, opts: { wsProxy?: string } = {}): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`invalid database name ${name}`);
  const pool = nodePool(adminUrl, opts.wsProxy);
  try {
    const found = await pool.query('select 1 from pg_database where datname = $1', [name]);
    if (found.rowCount === 0) await pool.query(`create database "${name}"`);
  } catch (err) {
    // Two runs may race to create it; the loser sees duplicate_database.
    if ((err as { code?: unknown }).code !== '42P04') throw err;
  } finally {
    await pool.end();
  }
}

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error('db:migrate: set DATABASE_URL (e.g. DATABASE_URL=postgres://…neon.tech/neondb npm run db:migrate)');
    process.exit(1);
  }
  const started = Date.now();
  try {
    await migrateDatabase(url, { wsProxy: process.env.NEON_WS_PROXY || undefined });
  } catch (err) {
    console.error(`db:migrate: failed on ${new URL(url).host}: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
  console.log(`db:migrate: ${new URL(url).host} is up to date (${Date.now() - started} ms)`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
