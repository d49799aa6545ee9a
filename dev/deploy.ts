/**
 * npm run deploy -- --env staging|production [--dry-run] [--config wrangler.toml]
 *
 * Checks the environment (dev/deploy-check.ts: its wrangler.toml settings, the secrets set on Cloudflare, the
 * migration URL in this shell) and refuses with the list of what is missing; then builds the page, applies the
 * pending migrations to that environment's database (DATABASE_URL_STAGING / DATABASE_URL_PRODUCTION) and deploys.
 * Migrations go first: they only ever add (expand), so the Worker still running meanwhile keeps working.
 * --dry-run checks the settings (not the secrets: that needs Cloudflare), builds, lists the pending migrations
 * when the URL is set, and bundles with `wrangler deploy --dry-run`, changing nothing anywhere.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs, stripVTControlCharacters } from 'node:util';
import { unstable_readConfig } from 'wrangler';
import { type DeployInput, deployProblems, migrationUrlName } from './deploy-check';
import { MIGRATIONS_FOLDER, migrateDatabase, nodePool } from './migrate';

const root = fileURLToPath(new URL('..', import.meta.url));
const wrangler = join(root, 'node_modules/wrangler/bin/wrangler.js');
const QUIET = {
  WRANGLER_SEND_METRICS: 'false',
  WRANGLER_SEND_ERROR_REPORTS: 'false',
  WRANGLER_HIDE_BANNER: 'true',
  FORCE_COLOR: '0',
};

function run(args: string[], opts: { capture?: boolean } = {}): string {
  const out = execFileSync(args[0] === 'npm' ? 'npm' : process.execPath, args[0] === 'npm' ? args.slice(1) : args, {
    cwd: root,
    stdio: opts.capture ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    env: { ...process.env, ...QUIET },
    encoding: 'utf8',
  });
  return out ?? '';
}

/** Names of the secrets set on the environment's Worker, or why they could not be listed. */
function listSecrets(env: string, config: string): string[] | Error {
  try {
    const out = run([wrangler, 'secret', 'list', '--env', env, '--config', config, '--format', 'json'], {
      capture: true,
    });
    return (JSON.parse(out) as { name: string }[]).map((s) => s.name);
  } catch (err) {
    // wrangler's first line says why (no CLOUDFLARE_API_TOKEN, no such Worker yet); the rest points at its log.
    const stderr = stripVTControlCharacters((err as { stderr?: string }).stderr ?? '')
      .trim()
      .split('\n')[0]
      ?.replace(/^✘ \[ERROR\] /, '');
    return new Error(stderr || (err instanceof Error ? err.message : String(err)));
  }
}

interface JournalEntry {
  tag: string;
  when: number;
}

/** The drizzle/ migrations the database has not applied yet (drizzle records each by its `when`). */
export async function pendingMigrations(databaseUrl: string, wsProxy?: string): Promise<string[]> {
  const journal = JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, 'meta/_journal.json'), 'utf8')) as {
    entries: JournalEntry[];
  };
  const pool = nodePool(databaseUrl, wsProxy);
  try {
    const table = await pool.query(`select to_regclass('drizzle.__drizzle_migrations') as t`);
    if (!table.rows[0]?.t) return journal.entries.map((e) => e.tag);
    const applied = await pool.query('select max(created_at)::text as last from drizzle.__drizzle_migrations');
    const last = Number(applied.rows[0]?.last ?? 0);
    return journal.entries.filter((e) => e.when > last).map((e) => e.tag);
  } finally {
    await pool.end();
  }
}

/** The driver rejects with a WebSocket ErrorEvent when it cannot connect: say what it carries. */
function reason(err: unknown): string {
  if (err instanceof Error) return err.message;
  const inner = (err as { error?: unknown; message?: unknown } | null) ?? {};
  if (inner.error instanceof Error) return inner.error.message;
  return typeof inner.message === 'string' && inner.message ? inner.message : String(err);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      env: { type: 'string', default: '' },
      'dry-run': { type: 'boolean', default: false },
      config: { type: 'string', default: 'wrangler.toml' },
    },
  });
  const env = values.env ?? '';
  const dryRun = values['dry-run'] ?? false;
  const configPath = values.config ?? 'wrangler.toml';
  const say = (line: string) => console.log(`deploy ${env}${dryRun ? ' (dry run)' : ''}: ${line}`);

  const config = unstable_readConfig({ config: configPath, env: env || undefined }, { hideWarnings: true });
  let secrets: DeployInput['secrets'] = null;
  const problems: string[] = [];
  if (!dryRun && env) {
    const listed = listSecrets(env, configPath);
    if (listed instanceof Error) problems.push(`could not list the secrets of ${env}: ${listed.message}`);
    else secrets = listed;
  }
  const migrationUrl = env ? process.env[migrationUrlName(env)] || undefined : undefined;
  problems.push(...deployProblems({ env, config, secrets, migrationUrl, dryRun }));
  if (problems.length > 0) {
    console.error(`deploy ${env || '?'}: refused, ${problems.length} thing(s) to fix first:`);
    for (const p of problems) console.error(`  - ${p}`);
    process.exit(1);
  }
  say(dryRun ? 'settings ok (secrets not checked in a dry run)' : 'settings and secrets ok');

  say('building the page');
  run(['npm', 'run', '--silent', 'build:web']);

  const wsProxy = process.env.NEON_WS_PROXY || undefined;
  if (migrationUrl) {
    const host = new URL(migrationUrl).host;
    try {
      const pending = await pendingMigrations(migrationUrl, wsProxy);
      say(`${host}: ${pending.length ? `pending migrations ${pending.join(', ')}` : 'no pending migrations'}`);
      if (!dryRun && pending.length) {
        await migrateDatabase(migrationUrl, { wsProxy });
        say(`${host}: migrated`);
      }
    } catch (err) {
      // Nothing was deployed: the Worker in service still matches the database.
      console.error(`deploy ${env}: stopped, the migrations failed on ${host}: ${reason(err)}`);
      process.exit(1);
    }
  }

  const outdir = join(root, 'dist', env);
  run([wrangler, 'deploy', '--env', env, '--config', configPath, ...(dryRun ? ['--dry-run', '--outdir', outdir] : [])]);
  say(dryRun ? `bundle in ${outdir}; nothing was changed` : `deployed ${config.name}; now check https://…/readyz`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
