import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  appendFile,
  chmod,
  cp,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { loadConfig } from '../worker/config';
import { startDevAgent } from './agentcore';
import { announcedWorker, type DirectPort, startDirectPort } from './direct-port';
import { ensureDatabase, migrateDatabase } from './migrate';
import type { NeonHttpCounts } from './neon-http';
import { startNeonProxy } from './neon-proxy';
import { freePort, isPortFree } from './ports';
import { type PostgresServer, randomPassword, startPostgres } from './postgres';
import { stopWhenOrphaned } from './processes';
import type { WranglerDevOptions } from './wrangler-dev';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DATABASE = 'agentchat';
const WRANGLER_ENV = {
  WRANGLER_SEND_METRICS: 'false',
  WRANGLER_SEND_ERROR_REPORTS: 'false',
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
  WRANGLER_HIDE_BANNER: 'true',
};

/** A stack that cannot start; the message is one line saying what and how to fix it. */
export class StackError extends Error {
  override name = 'StackError';
}

export interface StackOptions {
  /** Where the Worker listens (default PORT or 8787; 0 picks a free one). */
  port?: number;
  /** Postgres data and wrangler state (default .data/). */
  dataDir?: string;
  /** No progress lines and no Worker logs on stdout. */
  quiet?: boolean;
  /** Overrides on top of .dev.vars (e.g. rate limits for a test). */
  vars?: Record<string, string>;
  /** Stops a start that is still under way (Ctrl-C during start-up). */
  signal?: AbortSignal;
  /**
   * Where the devtools inspector listens; none by default. Its session makes workerd report every subrequest
   * to it, ~1.8 ms per fetch here, and the AgentCore call is one (dev/wrangler-dev.ts).
   */
  inspectorPort?: number | undefined;
  /** Every line the Worker prints (its JSON log lines among them), quiet or not; LOG_LEVEL decides which it logs. */
  onWorkerLine?: (line: string) => void;
  /** Called when a part exits on its own after start-up (e.g. wrangler crashed). */
  onExit?: (what: string) => void;
}

export interface Stack {
  url: string;
  vars: Record<string, string>;
  devToken(userId: string): Promise<string>;
  postgres: { stop(): Promise<void>; start(): Promise<void> };
  /** What the local Neon HTTP endpoint has served (dev/neon-http.ts); zeros when DATABASE_URL is not local. */
  neonCounts(): NeonHttpCounts;
  /**
   * The Worker's own address inside workerd, behind wrangler's proxy (dev/wrangler-dev.ts says why a load test
   * goes there); it changes when the Worker is started again. A quiet stack's `url` reaches the same Worker
   * through a pass-through that keeps its port (dev/direct-port.ts).
   */
  directUrl(): string;
  /** The Worker's process: `kill` SIGKILLs wrangler dev and its workerd (a crash), `start` runs it again on the same storage. */
  worker: { kill(): Promise<void>; start(): Promise<void> };
  /** Milliseconds each step took, for the start-up report. */
  timings: Record<string, number>;
  stop(): Promise<void>;
}

/**
 * Starts the whole product locally: embedded Postgres + WebSocket proxy + migrations + dev AgentCore +
 * `wrangler dev` serving web/dist and the API on one origin. Settings come from .dev.vars (made from
 * .dev.vars.example on first start); DATABASE_URL / AGENTCORE_URL set there replace the local services.
 */
export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const say = opts.quiet ? () => {} : (line: string) => console.log(line);
  const timings: Record<string, number> = {};
  const step = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    if (opts.signal?.aborted) throw new StackError('start-up interrupted');
    const started = performance.now();
    const result = await work();
    timings[name] = Math.round(performance.now() - started);
    return result;
  };

  const port = opts.port === 0 ? await freePort() : (opts.port ?? envPort());
  if (!(await isPortFree(port))) {
    throw new StackError(`port ${port} is in use (another \`npm start\`?): stop it, or run with PORT=<free port>.`);
  }
  const dataDir = resolve(opts.dataDir ?? join(ROOT, '.data'));
  const ephemeral = throwAway.has(dataDir);
  await mkdir(dataDir, { recursive: true });
  const vars: Record<string, string> = { ...(await readDevVars(say)), ...opts.vars };
  // The embedded PostgreSQL's password is the stack's business, not the Worker's (it reaches it in DATABASE_URL).
  const pgPassword = ephemeral ? randomPassword() : (vars.LOCAL_POSTGRES_PASSWORD ?? randomPassword());
  delete vars.LOCAL_POSTGRES_PASSWORD;
  vars.ALLOWED_ORIGINS ??= `http://127.0.0.1:${port},http://localhost:${port}`;
  // Fail on a bad setting before starting anything; the local services fill in their own URLs later.
  checkSettings({ DATABASE_URL: 'postgres://127.0.0.1/x', AGENTCORE_URL: 'http://127.0.0.1/', ...vars });

  const closers: Array<() => Promise<void>> = [];
  if (ephemeral) closers.push(() => rm(dataDir, { recursive: true, force: true }));
  const stopAll = async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
  };
  let postgres: PostgresServer | undefined;
  let wrangler: Wrangler | undefined;
  let tree = ROOT;
  // Quiet stacks serve the Worker's own socket on `port` (dev/direct-port.ts); wrangler's proxy gets another.
  let direct: DirectPort | undefined;
  let wranglerPort = port;
  let neonCounts = (): NeonHttpCounts => ({ requests: 0, statements: 0, bytesIn: 0, bytesOut: 0 });
  try {
    await step('web build', () => ensureWebBuild(say));
    if (!vars.DATABASE_URL) {
      postgres = await step('postgres', async () =>
        startPostgres({
          dataDir: join(dataDir, 'postgres'),
          port: await freePort(),
          password: pgPassword,
          ephemeral,
          onLog: debugLog('postgres'),
        }),
      );
      const pg = postgres;
      closers.push(() => pg.stop());
      const proxy = await step('proxy', () => startNeonProxy({ port: 0, postgresPort: pg.port }));
      closers.push(() => proxy.close());
      neonCounts = proxy.counts;
      await step('database', () => ensureDatabase(pg.url(), DATABASE, { wsProxy: proxy.wsProxy }));
      vars.DATABASE_URL = pg.url(DATABASE);
      vars.NEON_WS_PROXY = proxy.wsProxy;
    }
    const databaseUrl = vars.DATABASE_URL;
    await step('migrations', () =>
      migrateDatabase(databaseUrl, { wsProxy: vars.NEON_WS_PROXY }).catch((err: unknown) => {
        throw new StackError(`migrations failed on ${new URL(databaseUrl).host}: ${firstLine(err)}`);
      }),
    );
    if (!vars.AGENTCORE_URL) {
      const agent = await step('dev agent', async () => startDevAgent({ port: await freePort() }));
      closers.push(() => agent.close());
      vars.AGENTCORE_URL = agent.url;
    }
    checkSettings(vars);
    if (opts.quiet) {
      tree = await step('snapshot', () => snapshotTree(dataDir));
      const through = startDirectPort(port);
      closers.push(() => through.close());
      direct = through;
      wranglerPort = await freePort();
    }
    wrangler = await step('wrangler', () => startWrangler(tree, wranglerPort, port, dataDir, vars, opts, say, direct));
    closers.push(() => wrangler?.stop() ?? Promise.resolve());
  } catch (err) {
    await stopAll();
    throw err;
  }

  let stopping: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    vars,
    timings,
    devToken: (userId) => signDevToken(vars, userId),
    directUrl: () => wrangler?.directUrl() ?? `http://127.0.0.1:${port}`,
    neonCounts: () => neonCounts(),
    postgres: {
      stop: async () => postgres?.stop(),
      start: async () => postgres?.start(),
    },
    worker: {
      kill: async () => {
        await direct?.target(undefined);
        await wrangler?.kill();
      },
      start: async () => {
        await direct?.target(undefined);
        await wrangler?.kill();
        wrangler = await startWrangler(tree, wranglerPort, port, dataDir, vars, opts, say, direct);
      },
    },
    stop: () => {
      stopping ??= stopAll();
      return stopping;
    },
  };
}

/**
 * A fresh data directory for a throw-away stack (tests, benchmarks). mkdtemp makes it 0700, which the
 * unprivileged Postgres user could not enter when we run as root; 0755 lets it reach its own subfolder.
 */
export async function makeTempDataDir(prefix = 'agent-chat-', parent = tmpdir()): Promise<string> {
  const dir = await mkdtemp(join(parent, prefix));
  await chmod(dir, 0o755);
  throwAway.add(dir);
  return dir;
}

/** Data dirs from makeTempDataDir: their Postgres skips fsync, and stop() deletes them. */
const throwAway = new Set<string>();

function envPort(): number {
  const raw = process.env.PORT ?? '8787';
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new StackError(`PORT=${raw} is not a port number.`);
  return port;
}

/**
 * HS256 with AUTH_JWT_SECRET, iss/aud from the settings, 12 h: what worker/auth.ts accepts with DEV_AUTH on. `vars`
 * are a stack's settings (`stack.vars`), so a process that did not start the stack can sign in to it too.
 */
export async function signDevToken(vars: Record<string, string>, userId: string): Promise<string> {
  const secret = vars.AUTH_JWT_SECRET;
  if (!secret) throw new StackError('AUTH_JWT_SECRET is not set in .dev.vars: no dev token can be made.');
  const jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(userId).setIssuedAt();
  if (vars.AUTH_ISSUER) jwt.setIssuer(vars.AUTH_ISSUER);
  if (vars.AUTH_AUDIENCE) jwt.setAudience(vars.AUTH_AUDIENCE);
  return jwt.setExpirationTime('12h').sign(new TextEncoder().encode(secret));
}

/**
 * .dev.vars (or the file AGENTCHAT_DEV_VARS names), made from .dev.vars.example with a fresh AUTH_JWT_SECRET
 * and LOCAL_POSTGRES_PASSWORD the first time; a .dev.vars from before random passwords gets one added.
 */
export async function readDevVars(say: (line: string) => void = () => {}): Promise<Record<string, string>> {
  const custom = process.env.AGENTCHAT_DEV_VARS;
  if (custom) {
    const text = await readFile(custom, 'utf8').catch(() => {
      throw new StackError(`AGENTCHAT_DEV_VARS=${custom}: no such file.`);
    });
    return parseVars(text);
  }
  const path = join(ROOT, '.dev.vars');
  if (!existsSync(path)) {
    const example = await readFile(join(ROOT, '.dev.vars.example'), 'utf8').catch(() => {
      throw new StackError('.dev.vars.example is missing: restore it from git (git checkout .dev.vars.example).');
    });
    const secret = randomBytes(48).toString('base64url');
    const text = example
      .replace(/^AUTH_JWT_SECRET=.*$/m, `AUTH_JWT_SECRET=${secret}`)
      .replace(/^LOCAL_POSTGRES_PASSWORD=.*$/m, `LOCAL_POSTGRES_PASSWORD=${randomPassword()}`);
    await writeFile(path, text, { mode: 0o600 });
    say('made .dev.vars from .dev.vars.example (with a new AUTH_JWT_SECRET and LOCAL_POSTGRES_PASSWORD)');
  }
  const vars = parseVars(await readFile(path, 'utf8'));
  if (!vars.LOCAL_POSTGRES_PASSWORD) {
    vars.LOCAL_POSTGRES_PASSWORD = randomPassword();
    await appendFile(
      path,
      `\n# The embedded PostgreSQL's superuser password (added by npm start; .data is switched to it on start).\nLOCAL_POSTGRES_PASSWORD=${vars.LOCAL_POSTGRES_PASSWORD}\n`,
    );
    say('added a random LOCAL_POSTGRES_PASSWORD to .dev.vars (the local PostgreSQL used to have a fixed one)');
  }
  return vars;
}

/** KEY=VALUE lines; # comments; optional single or double quotes (the subset of dotenv we document). */
export function parseVars(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match?.[1]) continue;
    let value = match[2] ?? '';
    const quoted = /^(['"])(.*)\1$/.exec(value);
    value = quoted ? (quoted[2] ?? '') : value.replace(/\s+#.*$/, '');
    if (value !== '') vars[match[1]] = value;
  }
  return vars;
}

function checkSettings(vars: Record<string, string>): void {
  try {
    loadConfig({ ...vars });
  } catch (err) {
    const file = process.env.AGENTCHAT_DEV_VARS ?? '.dev.vars';
    throw new StackError(`${firstLine(err).replace(/^invalid configuration: /, 'setting ')}: fix it in ${file}.`);
  }
}

/** Builds the page when web/dist is missing or older than its sources. */
async function ensureWebBuild(say: (line: string) => void): Promise<void> {
  const dist = join(ROOT, 'web', 'dist');
  const config = join(ROOT, 'web', 'vite.config.ts');
  if (!existsSync(config)) {
    await mkdir(dist, { recursive: true });
    say('web/vite.config.ts not found: serving the API without the page');
    return;
  }
  const built = await stat(join(dist, 'index.html')).then(
    (s) => s.mtimeMs,
    () => 0,
  );
  // The page is built from web/ and the packages' sources (@agent-chat/client, @agent-chat/react).
  const packages = ['client', 'react'].map((name) => join(ROOT, 'packages', name, 'src'));
  const sources = await newestMtime([join(ROOT, 'web'), join(ROOT, 'worker', 'wire.ts'), ...packages], dist);
  if (built && built >= sources) return;
  say(built ? 'web/ or packages/ changed: rebuilding the page…' : 'building the page (first start)…');
  const vite = join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js');
  const child = spawn(process.execPath, [vite, 'build', '--config', config, '--logLevel', 'warn'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = collect(child, 40);
  const code = await new Promise<number | null>((done) => child.once('exit', done));
  if (code !== 0) {
    const lines = output();
    const cause = lines.find((l) => /error/i.test(l)) ?? lines.at(-1) ?? 'no output';
    throw new StackError(
      `the page did not build (\`npx vite build --config web/vite.config.ts\` shows why): ${cause.trim()}`,
    );
  }
}

async function newestMtime(paths: string[], skip: string): Promise<number> {
  let newest = 0;
  for (const path of paths) {
    const s = await stat(path).catch(() => undefined);
    if (!s) continue;
    if (!s.isDirectory()) {
      newest = Math.max(newest, s.mtimeMs);
      continue;
    }
    for (const entry of await readdir(path, { recursive: true, withFileTypes: true })) {
      const full = join(entry.parentPath, entry.name);
      if (!entry.isFile() || full.startsWith(skip) || full.includes('node_modules')) continue;
      newest = Math.max(newest, (await stat(full)).mtimeMs);
    }
  }
  return newest;
}

interface Wrangler {
  /** Where workerd itself serves the Worker (the DIRECT_URL= line dev/wrangler-dev.ts prints). */
  directUrl(): string | undefined;
  stop(): Promise<void>;
  /** SIGKILL to wrangler and workerd at once: no shutdown, nothing flushed. */
  kill(): Promise<void>;
}

/**
 * What a quiet stack (tests, benchmarks, the fault suite) serves: a copy of the files the Worker is built from,
 * taken once, so the stack keeps one version of the code for its life. wrangler dev rebuilds and restarts workerd
 * whenever a source file or web/dist changes, whatever its watch option says (its esbuild always watches), and a
 * POST in flight then gets 503 "Your worker restarted mid-request": an edit or a `git pull` during a 60 s
 * Postgres outage run did that (faults pg-down). The source maps stay behind: they are never served.
 */
async function snapshotTree(dataDir: string): Promise<string> {
  const tree = join(dataDir, 'tree');
  await rm(tree, { recursive: true, force: true });
  for (const path of ['worker', 'web/dist', 'wrangler.toml', 'tsconfig.json', 'package.json']) {
    await cp(join(ROOT, path), join(tree, path), {
      recursive: true,
      filter: (source) => !source.endsWith('.map') && !source.endsWith('.test.ts'),
    });
  }
  await symlink(join(ROOT, 'node_modules'), join(tree, 'node_modules'), 'dir');
  return tree;
}

async function startWrangler(
  root: string,
  port: number,
  publicPort: number,
  dataDir: string,
  vars: Record<string, string>,
  opts: StackOptions,
  say: (line: string) => void,
  direct: DirectPort | undefined,
): Promise<Wrangler> {
  // The merged settings go to wrangler through a private env file, not argv (ps would show the secret).
  const envFile = join(dataDir, 'wrangler.env');
  const lines = Object.entries(vars).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  await writeFile(envFile, `${lines.join('\n')}\n`, { mode: 0o600 });
  const options: WranglerDevOptions = {
    root,
    port,
    envFile,
    persistTo: join(dataDir, 'wrangler'),
    logLevel: opts.onWorkerLine ? 'log' : opts.quiet ? 'warn' : 'info',
    inspectorPort: opts.inspectorPort ?? null,
    watch: !opts.quiet,
  };
  // Own process group: we stop wrangler and its workerd together, after Ctrl-C reached only us.
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'dev', 'wrangler-dev.ts')], {
    cwd: ROOT,
    detached: true,
    env: { ...process.env, ...WRANGLER_ENV, FORCE_COLOR: '0', WRANGLER_DEV_OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let directUrl: string | undefined;
  const output = collect(child, 60, (line) => {
    const worker = announcedWorker(line);
    if (worker) {
      directUrl = worker.origin;
      direct
        ?.target(worker)
        .catch((err: unknown) => console.error(`the stack's port ${publicPort}: ${firstLine(err)}`));
    } else {
      opts.onWorkerLine?.(line);
      if (!opts.quiet) say(line);
    }
  });
  const unwatch = child.pid ? stopWhenOrphaned(child.pid, { group: true }) : () => {};
  let stopping = false;
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  void exited.then((code) => {
    if (!stopping) opts.onExit?.(`wrangler dev exited (code ${code}): ${output().slice(-3).join(' | ')}`);
  });
  const stop = async () => {
    stopping = true;
    unwatch();
    await killGroup(child, exited);
  };
  const kill = async () => {
    stopping = true;
    unwatch();
    await killGroup(child, exited, 'SIGKILL');
  };
  try {
    await waitForWorker(`http://127.0.0.1:${publicPort}/healthz`, exited, opts.signal, output);
  } catch (err) {
    await stop();
    throw err;
  }
  return { stop, kill, directUrl: () => directUrl };
}

async function waitForWorker(
  url: string,
  exited: Promise<number | null>,
  signal: AbortSignal | undefined,
  output: () => string[],
): Promise<void> {
  let gone: number | null | undefined;
  void exited.then((code) => {
    gone = code;
  });
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (signal?.aborted) throw new StackError('start-up interrupted');
    if (gone !== undefined) {
      throw new StackError(`wrangler dev exited while starting (code ${gone}): ${output().slice(-3).join(' | ')}`);
    }
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
    await res?.body?.cancel();
    if (res?.status === 200) return;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new StackError(`the Worker did not answer ${url} within 90 s: ${output().slice(-3).join(' | ')}`);
}

async function killGroup(
  child: ChildProcess,
  exited: Promise<number | null>,
  first: NodeJS.Signals = 'SIGTERM',
): Promise<void> {
  const pid = child.pid;
  if (!pid) return;
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal);
    } catch {
      // ESRCH: the group is already gone.
    }
  };
  if (child.exitCode === null && child.signalCode === null) {
    signalGroup(first);
    const done = await Promise.race([exited.then(() => true), sleep(8_000).then(() => false)]);
    if (!done) signalGroup('SIGKILL');
    await exited;
  }
  // workerd lives in wrangler's group; make sure nothing of it outlives wrangler.
  signalGroup('SIGKILL');
}

/** Keeps the last `keep` lines of a child's output (for error messages) and optionally echoes them. */
function collect(child: ChildProcess, keep: number, echo?: (line: string) => void): () => string[] {
  const lines: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    let buffer = '';
    stream?.on('data', (data: Buffer) => {
      buffer += data.toString('utf8');
      const parts = buffer.split('\n');
      buffer = parts.pop() ?? '';
      for (const line of parts) {
        if (!line.trim()) continue;
        lines.push(line);
        if (lines.length > keep) lines.shift();
        echo?.(line);
      }
    });
  }
  return () => lines;
}

function debugLog(name: string): ((line: string) => void) | undefined {
  return process.env.DEBUG ? (line) => console.error(`[${name}] ${line}`) : undefined;
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
