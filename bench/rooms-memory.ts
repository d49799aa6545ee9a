/**
 * What a room costs in the Worker's memory, and whether it is used again: B batches of N conversations, each with
 * one JSON send, and after each batch IDLE_S seconds with nothing in flight; the Worker's workerd memory after each
 * batch and after each wait. Memory that grows by the same step every batch would be kept per room; a first step
 * and then little means rooms left idle give theirs back to the process for the next ones.
 *
 *   npx tsx bench/rooms-memory.ts        (N=200, B=3, IDLE_S=150)
 */
import { fmtMemory, workerdMemory } from '../faults/experiments/load';
import { sleep, startLab } from '../faults/lab';

const N = Number(process.env.N) || 200;
const B = Number(process.env.B) || 3;
const IDLE_S = Number(process.env.IDLE_S) || 150;
const AT_ONCE = 10;

const lab = await startLab();
try {
  lab.url = lab.stack.directUrl();
  const user = await lab.user();
  console.log(`start: ${fmtMemory(workerdMemory(lab))}`);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < N; i += AT_ONCE) {
      await Promise.all(
        Array.from({ length: AT_ONCE }, async () => {
          const id = await user.conversation(`rooms ${b}.${i}`);
          await user.ok('POST', '/messages', {
            conversation_id: id,
            content: '!dev words=20\nrooms',
            client_message_id: crypto.randomUUID(),
          });
        }),
      );
    }
    console.log(`after ${(b + 1) * N} conversations: ${fmtMemory(workerdMemory(lab))}`);
    await sleep(IDLE_S * 1000);
    console.log(`  idle ${IDLE_S} s: ${fmtMemory(workerdMemory(lab))}`);
  }
} finally {
  const left = await lab.stop();
  if (left.length) console.log(`left behind: ${left.join('; ')}`);
}
