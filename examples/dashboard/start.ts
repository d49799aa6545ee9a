/**
 * The example dashboard with the whole stack, as one command (`npm run dashboard`): packs @agent-chat/client and
 * @agent-chat/react with `npm pack` and installs the tarballs here, builds the dashboard, and starts its auth service,
 * the chat stack (trusting that service's JWKS, allowing the dashboard's origin) and the dashboard on its own port.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePort } from '../../dev/ports';
import { makeTempDataDir, ROOT, type Stack, startStack } from '../../dev/stack';
import { AUDIENCE, type AuthService, ISSUER, startAuthService } from './auth-service';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const PACKAGES = ['client', 'react'] as const;

export interface Dashboard {
  url: string;
  stack: Stack;
  auth: AuthService;
  stop(): Promise<void>;
}

function run(command: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d;
    });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(' ')} failed:\n${out}`)),
    );
  });
}

/** Builds and packs the packages, then unpacks each tarball where npm would install it. */
export async function installPackedPackages(): Promise<Record<string, string>> {
  const packs = await mkdtemp(join(tmpdir(), 'agent-chat-packs-'));
  const tarballs: Record<string, string> = {};
  try {
    for (const name of PACKAGES) {
      const dir = join(ROOT, 'packages', name);
      await run(
        process.execPath,
        [join(ROOT, 'node_modules', 'tsdown', 'dist', 'run.mjs'), '--logLevel', 'error'],
        dir,
      );
      await run('npm', ['pack', '--silent', '--pack-destination', packs], dir);
    }
    for (const file of await readdir(packs)) {
      const name = PACKAGES.find((p) => file.startsWith(`agent-chat-${p}-`));
      if (!name) continue;
      const target = join(HERE, 'node_modules', '@agent-chat', name);
      await rm(target, { recursive: true, force: true });
      await mkdir(target, { recursive: true });
      await run('tar', ['-xzf', join(packs, file), '-C', target, '--strip-components=1'], HERE);
      tarballs[name] = file;
    }
  } finally {
    await rm(packs, { recursive: true, force: true });
  }
  return tarballs;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.map': 'application/json',
};

function serveDashboard(port: number, config: unknown): Promise<Server> {
  const dist = join(HERE, 'dist');
  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://host').pathname;
    if (path === '/config.json') {
      res.writeHead(200, { 'content-type': TYPES['.json'] as string });
      return res.end(JSON.stringify(config));
    }
    const file = path.startsWith('/assets/') && !path.includes('..') ? join(dist, path) : join(dist, 'index.html');
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

export async function startDashboard(
  opts: { ttlSeconds?: number; quiet?: boolean; vars?: Record<string, string> } = {},
) {
  const say = opts.quiet ? () => {} : (line: string) => console.log(line);
  say('packing @agent-chat/client and @agent-chat/react…');
  await installPackedPackages();
  say('building the dashboard…');
  await run(
    process.execPath,
    [
      join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'),
      'build',
      '--config',
      join(HERE, 'vite.config.ts'),
      '--logLevel',
      'warn',
    ],
    ROOT,
  );

  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const auth = await startAuthService({ ttlSeconds: opts.ttlSeconds ?? 300, allowOrigin: () => origin });
  let stack: Stack | undefined;
  try {
    stack = await startStack({
      port: 0,
      dataDir: await makeTempDataDir('agent-chat-dashboard-'),
      quiet: opts.quiet ?? false,
      vars: {
        AUTH_JWKS_URL: auth.jwksUrl,
        AUTH_ISSUER: ISSUER,
        AUTH_AUDIENCE: AUDIENCE,
        ALLOWED_ORIGINS: origin,
        ...opts.vars,
      },
    });
  } catch (error) {
    await auth.close();
    throw error;
  }
  const chat = stack;
  const server = await serveDashboard(port, { chatBaseUrl: chat.url, authUrl: auth.url });
  return {
    url: origin,
    stack: chat,
    auth,
    async stop() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await chat.stop();
      await auth.close();
    },
  } satisfies Dashboard;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const dashboard = await startDashboard();
  console.log(`\nThe dashboard is at ${dashboard.url} (chat API ${dashboard.stack.url}). Ctrl-C stops everything.`);
  const stop = () => void dashboard.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
