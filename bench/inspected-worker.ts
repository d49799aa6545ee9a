/**
 * The Worker in a workerd of its own whose JavaScript heap can be read after a full GC: the bundle `wrangler deploy`
 * uploads, run by Miniflare with the devtools inspector on, on a lab's Postgres, agent and settings (faults/lab.ts). A
 * client that sets `lab.url = worker.origin` talks to it instead of the lab's `wrangler dev`. The inspector has been
 * slow to accept a session on an isolate that has served nothing yet (minutes): read it after some traffic.
 *
 * Not `wrangler dev` with its inspector: wrangler's inspector proxy turns on the Network domain and keeps what
 * workerd reports, so under the soak's traffic its workerd grew to 3.2 GB (57 → 527 MiB in 5 minutes in another
 * run) and the GC requests went unanswered. Here the only session is ours, opened for each reading and closed.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Miniflare } from 'miniflare';
import { unstable_getMiniflareWorkerOptions } from 'wrangler';
import WebSocket from 'ws';
import { freePort } from '../dev/ports';
import { type WorkerdProcessMemory, workerdMemoryAt } from '../faults/experiments/load';
import type { Lab } from '../faults/lab';

const ROOT = join(import.meta.dirname, '..');
/** How long one devtools call may take; the first GC on a busy isolate has taken over a minute. */
const CALL_TIMEOUT_MS = 90_000;

export interface HeapReading {
  /** The isolate's JS heap in use after two full GCs, MiB; undefined when the inspector did not answer in time. */
  heapMiB: number | undefined;
  /** The Worker's workerd just before the GCs and just after them. */
  before: WorkerdProcessMemory;
  after: WorkerdProcessMemory;
}

export interface InspectedWorker {
  origin: string;
  /** The Worker's workerd process (RSS, anon, file pages; MiB). */
  memory(): WorkerdProcessMemory;
  /** Two full GCs of the Worker's isolate, then its heap in use. */
  heapAfterGc(): Promise<HeapReading>;
  stop(): Promise<void>;
}

export async function inspectedWorker(lab: Lab): Promise<InspectedWorker> {
  const dir = await mkdtemp(join(tmpdir(), 'agent-chat-inspected-'));
  const wrangler = join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');
  execFileSync(process.execPath, [wrangler, 'deploy', '--dry-run', '--env=', '--outdir', dir], {
    cwd: ROOT,
    stdio: 'ignore',
  });
  const inspectorPort = await freePort();
  const { workerOptions } = unstable_getMiniflareWorkerOptions(join(ROOT, 'wrangler.toml'), '');
  const mf = new Miniflare({
    ...workerOptions,
    name: 'agent-chat',
    modules: true,
    modulesRoot: dir,
    scriptPath: join(dir, 'index.js'),
    bindings: { ...workerOptions.bindings, ...lab.stack.vars },
    inspectorPort,
    host: '127.0.0.1',
    port: await freePort(),
    durableObjectsPersist: join(dir, 'objects'),
  });
  try {
    const origin = (await mf.ready).origin;
    const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json()) as Array<{
      id: string;
      webSocketDebuggerUrl: string;
    }>;
    const target = targets.find((t) => t.id === 'core:user:agent-chat')?.webSocketDebuggerUrl;
    if (!target) throw new Error(`no inspector target for the Worker among ${targets.map((t) => t.id).join(', ')}`);
    const port = Number(new URL(origin).port);
    const memory = () => workerdMemoryAt(port).worker;
    return {
      origin,
      memory,
      async heapAfterGc() {
        const before = memory();
        const r = await devtools(target, [
          'HeapProfiler.collectGarbage',
          'HeapProfiler.collectGarbage',
          'Runtime.getHeapUsage',
        ]).catch((): Record<string, unknown> => ({}));
        const usage = r['Runtime.getHeapUsage'] as { usedSize?: number } | undefined;
        const used = usage?.usedSize;
        return { heapMiB: used === undefined ? undefined : used / 2 ** 20, before, after: memory() };
      },
      async stop() {
        await mf.dispose();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await mf.dispose().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Calls `methods` one after another on a devtools session; a call not answered in time gives undefined. */
async function devtools(url: string, methods: string[]): Promise<Record<string, unknown>> {
  const ws = new WebSocket(url, { handshakeTimeout: CALL_TIMEOUT_MS });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const out: Record<string, unknown> = {};
  try {
    for (const [i, method] of methods.entries()) {
      out[method] = await new Promise<unknown>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), CALL_TIMEOUT_MS);
        const onMessage = (data: WebSocket.RawData) => {
          const m = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: unknown };
          if (m.id !== i + 1) return;
          clearTimeout(timer);
          ws.off('message', onMessage);
          resolve(m.error ? undefined : m.result);
        };
        ws.on('message', onMessage);
        ws.send(JSON.stringify({ id: i + 1, method, params: {} }));
      });
    }
  } finally {
    ws.close();
  }
  return out;
}
