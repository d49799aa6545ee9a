/**
 * Is the Worker's memory growth under steady traffic a leak of live JavaScript objects? Printed per round: the
 * Worker isolate's JS heap after two full garbage collections (the devtools inspector's
 * `HeapProfiler.collectGarbage`, then `Runtime.getHeapUsage`), beside the Worker's workerd anon RSS. Traffic as in the
 * soak (faults/experiments/soak.ts): six conversations, JSON, SSE and WebSocket sends in turn, a history read every
 * fifth send; ROUNDS rounds of PER sends per conversation (defaults 8 and 40).
 * A heap after GC that stays flat while the RSS grows means the growth is native memory (workerd, SQLite, the
 * allocator), not objects the Worker keeps. The inspector's first GC request can take a minute to be answered.
 * Run: npm run bench:heap            (ROUNDS=4 PER=20 npm run bench:heap for a shorter one)
 */
import WebSocket from 'ws';
import { freePort } from '../dev/ports';
import { workerdMemory } from '../faults/experiments/load';
import { Transcript } from '../faults/invariants';
import { sleep, startLab } from '../faults/lab';
import { CHANNELS, Conversation } from '../faults/traffic';

const ROUNDS = Number(process.env.ROUNDS) || 8;
const PER = Number(process.env.PER) || 40;
const CALL_TIMEOUT_MS = 90_000;

/** Calls `methods` one after another on a devtools session; a call not answered in time gives 'timeout'. */
async function devtools(url: string, methods: string[]): Promise<Record<string, unknown>> {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const out: Record<string, unknown> = {};
  try {
    for (const [i, method] of methods.entries()) {
      out[method] = await new Promise<unknown>((resolve) => {
        const timer = setTimeout(() => resolve('timeout'), CALL_TIMEOUT_MS);
        const onMessage = (data: WebSocket.RawData) => {
          const m = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: unknown };
          if (m.id !== i + 1) return;
          clearTimeout(timer);
          ws.off('message', onMessage);
          resolve(m.result ?? m.error);
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

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

const inspectorPort = await freePort();
const lab = await startLab({}, { inspectorPort });
try {
  const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json()) as Array<{
    webSocketDebuggerUrl: string;
  }>;
  const url = targets[0]?.webSocketDebuggerUrl;
  if (!url) throw new Error('no inspector target');
  const user = await lab.user();
  const conversations: Conversation[] = [];
  for (let i = 0; i < 6; i++) {
    conversations.push(new Conversation(new Transcript(user, await user.conversation(`heap ${i}`))));
  }
  console.log(`${conversations.length} conversations, ${ROUNDS} rounds of ${PER} sends each`);
  for (let round = 0; round <= ROUNDS; round++) {
    if (round > 0) {
      await Promise.all(
        conversations.map(async (c, i) => {
          for (let n = 0; n < PER; n++) {
            await c.send(CHANNELS[(i + n) % CHANNELS.length] ?? 'json', `!dev words=20 delay_ms=10\nheap ${n}`);
            if (n % 5 === 0) await c.t.user.history(c.t.conversationId);
          }
        }),
      );
    }
    await sleep(1_000);
    const r = await devtools(url, [
      'HeapProfiler.collectGarbage',
      'HeapProfiler.collectGarbage',
      'Runtime.getHeapUsage',
    ]);
    const heap = r['Runtime.getHeapUsage'] as { usedSize?: number; totalSize?: number } | string;
    const mem = workerdMemory(lab);
    console.log(
      `after ${round * PER * conversations.length} sends: JS heap after GC ${typeof heap === 'string' ? heap : `${mib(heap.usedSize ?? 0)} MiB used of ${mib(heap.totalSize ?? 0)}`}; ` +
        `the Worker's workerd anon ${mem.worker.anon} MiB, RSS ${mem.worker.rss} MiB`,
    );
  }
  for (const c of conversations) c.close();
} finally {
  const left = await lab.stop();
  if (left.length) console.log(`left behind: ${left.join('; ')}`);
}
