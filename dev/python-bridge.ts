/**
 * Starts the Python reference bridge (bridges/python, in front of its stand-in AgentCore) on a free port, with
 * Debian's python3 (its FastAPI and uvicorn come from apt, not PyPI).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from './ports';
import { ROOT } from './stack';

export const PYTHON = process.env.PYTHON ?? '/usr/bin/python3';

export interface PythonBridge {
  /** The bridge endpoint: POST here (SPEC §6). */
  url: string;
  base: string;
  /** A run's state ({state, chunks}); `wait` answers once it has ended. */
  runState(key: string, wait?: boolean): Promise<{ state: string; chunks: number }>;
  close(): Promise<void>;
}

export async function startPythonBridge(opts: { token?: string; detachGraceS?: number } = {}): Promise<PythonBridge> {
  const port = await freePort();
  const child = spawn(PYTHON, ['-m', 'agentcore_bridge'], {
    cwd: join(ROOT, 'bridges', 'python'),
    env: {
      ...process.env,
      PORT: String(port),
      AGENTCORE_TOKEN: opts.token ?? '',
      AGENTCORE_DETACH_GRACE_S: String(opts.detachGraceS ?? 0),
      PYTHONDONTWRITEBYTECODE: '1',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const base = `http://127.0.0.1:${port}`;
  await untilHealthy(`${base}/healthz`, child);
  const auth: Record<string, string> = opts.token ? { authorization: `Bearer ${opts.token}` } : {};
  return {
    url: `${base}/v1/agent`,
    base,
    runState: async (key, wait = false) => {
      const res = await fetch(`${base}/v1/runs/${encodeURIComponent(key)}${wait ? '?wait=true' : ''}`, {
        headers: auth,
      });
      return (await res.json()) as { state: string; chunks: number };
    },
    close: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

async function untilHealthy(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the Python bridge exited (code ${child.exitCode}) while starting`);
    const res = await fetch(url).catch(() => undefined);
    await res?.body?.cancel();
    if (res?.ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the Python bridge did not answer ${url} within 30 s`);
}
