import { spawn } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from './ports';
import { alive, commandLine, descendants } from './processes';
import { makeTempDataDir, ROOT } from './stack';

/**
 * Runs `npm start`'s script as its own process group, like a terminal's foreground job. The IPC channel
 * makes it stop by itself if this test process dies before it could send the Ctrl-C.
 */
function start(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'dev/start.ts'], {
    cwd: ROOT,
    detached: true,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const waitFor = async (text: string | RegExp, ms: number) => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (typeof text === 'string' ? output.includes(text) : text.test(output)) return;
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`did not see ${text}; output:\n${output}`);
  };
  return { child, exited, waitFor, output: () => output };
}

describe('npm start (dev/start.ts)', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('starts, prints the URL and a token, and leaves no process behind after Ctrl-C', async () => {
    const dataDir = await makeTempDataDir('agent-chat-start-test-');
    dirs.push(dataDir);
    const port = await freePort();
    const run = start({ PORT: String(port), AGENTCHAT_DATA_DIR: dataDir });
    await run.waitFor('Ctrl-C stops everything', 120_000);
    expect(run.output()).toContain(`agent-chat is running at http://127.0.0.1:${port}`);
    expect(run.output()).toMatch(/export TOKEN=eyJ[\w-]+\.[\w-]+\.[\w-]+/);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(200);

    const tree = descendants(run.child.pid ?? 0);
    expect(tree.some((pid) => commandLine(pid).includes('workerd'))).toBe(true);
    expect(tree.some((pid) => commandLine(pid).includes('postgres'))).toBe(true);
    const before = Date.now();
    process.kill(-(run.child.pid ?? 0), 'SIGINT');
    expect(await run.exited).toBe(0);
    expect(Date.now() - before).toBeLessThan(20_000);
    expect(alive(tree)).toEqual([]);
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  }, 180_000);

  it('says in one line when the port is taken', async () => {
    const port = await freePort();
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', () => resolve()));
    try {
      const run = start({ PORT: String(port), AGENTCHAT_DATA_DIR: '/nonexistent-never-used' });
      expect(await run.exited).toBe(1);
      expect(run.output().trim().split('\n')).toEqual([
        `port ${port} is in use (another \`npm start\`?): stop it, or run with PORT=<free port>.`,
      ]);
    } finally {
      blocker.close();
    }
  }, 60_000);

  it('says in one line when a setting is invalid', async () => {
    const dataDir = await makeTempDataDir('agent-chat-start-test-');
    dirs.push(dataDir);
    const varsFile = join(dataDir, 'bad.vars');
    await writeFile(varsFile, 'AUTH_JWT_SECRET=short\nAUTH_ISSUER=x\nAUTH_AUDIENCE=y\n');
    const run = start({ PORT: String(await freePort()), AGENTCHAT_DATA_DIR: dataDir, AGENTCHAT_DEV_VARS: varsFile });
    expect(await run.exited).toBe(1);
    expect(run.output().trim().split('\n')).toEqual([
      `setting AUTH_JWT_SECRET: must be at least 32 characters: fix it in ${varsFile}.`,
    ]);
  }, 60_000);
});
