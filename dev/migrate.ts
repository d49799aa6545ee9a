import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

/**
 * Applies drizzle/ migrations (idempotent: drizzle records applied ones in drizzle.__drizzle_migrations). With
 * `upTo`, only the migrations up to and including that tag: a test builds the database a deploy found.
 */
export async function migrateDatabase(
  databaseUrl: string,
  opts: { wsProxy?: string; upTo?: string } = {},
): Promise<void> {
  const pool = nodePool(databaseUrl, opts.wsProxy);
  const folder = opts.upTo ? migrationsUpTo(opts.upTo) : MIGRATIONS_FOLDER;
  try {
    await migrate(drizzle({ client: pool }), { migrationsFolder: folder });
  } finally {
    await pool.end();
    if (folder !== MIGRATIONS_FOLDER) rmSync(folder, { recursive: true, force: true });
  }
}

/** A copy of drizzle/ whose journal ends at `tag`. */
function migrationsUpTo(tag: string): string {
  const folder = mkdtempSync(join(tmpdir(), 'migrations-'));
  cpSync(MIGRATIONS_FOLDER, folder, { recursive: true });
  const journalPath = join(folder, 'meta', '_journal.json');
  const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { tag: string }[] };
  const end = journal.entries.findIndex((e) => e.tag === tag);
  if (end < 0) throw new Error(`no migration ${tag} in drizzle/meta/_journal.json`);
  writeFileSync(journalPath, JSON.stringify({ ...journal, entries: journal.entries.slice(0, end + 1) }));
  return folder;
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
