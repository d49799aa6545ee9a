/**
 * Is the Worker's memory growth under steady traffic a leak of live JavaScript objects? Printed per round: the
 * Worker isolate's JS heap after two full garbage collections (the devtools inspector's
 * `HeapProfiler.collectGarbage`, then `Runtime.getHeapUsage`), beside the Worker's workerd anon RSS before and after
 * them. Traffic as in the soak (faults/experiments/soak.ts): six conversations at a time, JSON, SSE and WebSocket
 * sends in turn, a history read every fifth send; ROUNDS rounds of PER sends per conversation (defaults 8 and 40);
 * LEAVE=60 leaves each conversation after 60 sends for a new one and reads one page of history, as the soak does.
 * A heap after GC that stays flat while the RSS grows means the growth is native memory (workerd, SQLite, the
 * allocator), not objects the Worker keeps.
 * The Worker runs in a workerd of its own (bench/inspected-worker.ts: Miniflare, the bundle `wrangler deploy`
 * uploads) on the lab's Postgres and agent, so that the inspector session is ours alone.
 * Run: npm run bench:heap            (LEAVE=60 ROUNDS=10 PER=120 npm run bench:heap: the soak's shape, ~12 min)
 */

import { Transcript } from '../faults/invariants';
import { sleep, startLab } from '../faults/lab';
import { CHANNELS, Conversation } from '../faults/traffic';
import { inspectedWorker } from './inspected-worker';

const ROUNDS = Number(process.env.ROUNDS) || 8;
const PER = Number(process.env.PER) || 40;
/** LEAVE=n: each conversation is left after n sends for a new one, as the soak's are (0, the default: never). */
const LEAVE = Number(process.env.LEAVE) || 0;

const lab = await startLab();
const worker = await inspectedWorker(lab);
lab.url = worker.origin;
try {
  const user = await lab.user();
  const open = async (name: string) => new Conversation(new Transcript(user, await user.conversation(name)));
  const conversations: Conversation[] = [];
  for (let i = 0; i < 6; i++) conversations.push(await open(`heap ${i}`));
  console.log(
    `${conversations.length} conversations at a time, ${ROUNDS} rounds of ${PER} sends each` +
      (LEAVE > 0 ? `, each conversation left after ${LEAVE} sends for a new one (as the soak does)` : ''),
  );
  for (let round = 0; round <= ROUNDS; round++) {
    if (round > 0) {
      await Promise.all(
        conversations.map(async (_, i) => {
          for (let n = 0; n < PER; n++) {
            const k = (round - 1) * PER + n; // this slot's send count so far
            let c = conversations[i] as Conversation;
            if (LEAVE > 0 && k > 0 && k % LEAVE === 0) {
              c.close();
              c = await open(`heap ${i}.${k / LEAVE}`);
              conversations[i] = c;
            }
            await c.send(CHANNELS[(i + n) % CHANNELS.length] ?? 'json', `!dev words=20 delay_ms=10\nheap ${n}`);
            if (n % 5 === 0) {
              if (LEAVE > 0) await c.t.user.call('GET', `/conversations/${c.t.conversationId}/messages?limit=50`);
              else await c.t.user.history(c.t.conversationId);
            }
          }
        }),
      );
    }
    await sleep(1_000);
    const { heapMiB, before, after } = await worker.heapAfterGc();
    console.log(
      `after ${round * PER * conversations.length} sends: JS heap after GC ${heapMiB === undefined ? 'not answered' : `${heapMiB.toFixed(1)} MiB`}; ` +
        `the Worker's workerd anon ${before.anon} MiB before the GCs, ${after.anon} MiB after (RSS ${after.rss} MiB)`,
    );
  }
  for (const c of conversations) c.close();
} finally {
  await worker.stop();
  const left = await lab.stop();
  if (left.length) console.log(`left behind: ${left.join('; ')}`);
}
