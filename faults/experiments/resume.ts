/**
 * Experiment 5: disconnect and resume. A client streams a reply over a WebSocket or SSE, its connection is cut at a
 * random chunk index (before the first chunk and after the last included), and it reconnects and resumes (`resume`
 * frame, or `GET …/stream` with Last-Event-ID). Properties: the chunks it ends up with have no gap and no duplicate,
 * and the text it rebuilt equals the stored reply, in the room and in Postgres.
 */
import type { ServerFrame } from '../../worker/wire';
import { type Experiment, outcome, scaled, withLab } from '../experiment';
import { addVerdict, type ChunkOrder, checkInvariants, checkSequence, Transcript } from '../invariants';
import { type Lab, type SseEvent, textOf, type User } from '../lab';

const WORDS = 12;
/** Chunks of a `words=12` reply: start, text-start, 12 deltas, text-end, finish (the cut may land past the last). */
const MAX_CUT = WORDS + 5;

interface Chunked {
  index: number;
  chunk: { type: string; delta?: unknown };
}

async function wsTrial(user: User, t: Transcript, cutAt: number, trial: ChunkOrder): Promise<void> {
  const first = await user.socket(t.conversationId);
  const clientMessageId = crypto.randomUUID();
  const content = `!dev words=${WORDS} delay_ms=15\nresume over ws, cut at ${cutAt}`;
  first.send({ type: 'send', content, client_message_id: clientMessageId });
  await first.until((fs) => fs.some((f) => f.type === 'message' && f.message.role === 'assistant'));
  t.admitted.push({ clientMessageId, content });
  const replyId = replyOf(first.frames);
  const chunksIn = (fs: ServerFrame[]) => fs.filter((f) => f.type === 'chunk' && f.message_id === replyId).length;
  const ended = (fs: ServerFrame[]) =>
    fs.some((f) => f.type === 'message' && f.message.id === replyId && f.message.status !== 'streaming');
  await first.until((fs) => chunksIn(fs) >= cutAt || ended(fs));
  const kept = chunksOf(first.frames, replyId);
  first.cut();

  const second = await user.socket(t.conversationId);
  const fromIndex = kept.length;
  second.send({ type: 'resume', message_id: replyId, from_index: fromIndex });
  await second.until(ended);
  const resumed = chunksOf(second.frames, replyId);
  const all = [...kept, ...resumed];
  checkSequence(
    all.map((c) => c.index),
    trial,
    `ws cut at ${cutAt}`,
  );
  const final = second.frames.find(
    (f) => f.type === 'message' && f.message.id === replyId && f.message.status !== 'streaming',
  );
  if (final?.type !== 'message') throw new Error('no final message');
  // A reply that ended before the resume is answered with its final message only: the client takes its text, which
  // must go on from what it had.
  const had = textOf(kept.map((c) => c.chunk));
  if (!final.message.content.startsWith(had))
    trial.failures.push(`ws cut at ${cutAt}: final text does not extend the streamed`);
  const rebuilt = resumed.length === 0 ? final.message.content : textOf(all.map((c) => c.chunk));
  t.streamed.set(replyId, rebuilt);
  t.ended.set(replyId, final.message.status);
  second.close();
}

async function sseTrial(user: User, t: Transcript, cutAt: number, trial: ChunkOrder): Promise<void> {
  const clientMessageId = crypto.randomUUID();
  const content = `!dev words=${WORDS} delay_ms=15\nresume over sse, cut at ${cutAt}`;
  const first = await user.sendSse(
    { conversation_id: t.conversationId, content, client_message_id: clientMessageId },
    cutAt,
  );
  if (first.status !== 200) throw new Error(`SSE send: ${first.status} ${first.text.slice(0, 200)}`);
  t.admitted.push({ clientMessageId, content });
  const last = first.events.at(-1)?.id;
  const second = await user.resumeSse(t.conversationId, last);
  const events: SseEvent[] = [...first.events, ...(second.status === 200 ? second.events : [])];
  const ids = events.map((e) => e.id ?? '');
  const replyId = ids[0]?.split(':')[0] ?? (await lastReplyId(user, t.conversationId));
  checkSequence(
    ids.filter((id) => id.startsWith(replyId)).map((id) => Number(id.split(':')[1])),
    trial,
    `sse cut at ${cutAt}`,
  );
  if (ids.some((id) => !id.startsWith(replyId))) trial.failures.push(`sse cut at ${cutAt}: events of another reply`);
  const history = await user.history(t.conversationId);
  const stored = history.find((m) => m.id === replyId);
  if (!stored) throw new Error(`reply ${replyId} not in the history`);
  // 204 (nothing in flight) after a cut: the reply ended meanwhile; the client reads it from the history.
  const complete = first.done || second.done;
  t.streamed.set(
    replyId,
    complete ? textOf(events.map((e) => JSON.parse(e.data) as Chunked['chunk'])) : stored.content,
  );
  if (!complete && second.status !== 204) trial.failures.push(`sse cut at ${cutAt}: resume answered ${second.status}`);
}

function replyOf(frames: ServerFrame[]): string {
  const f = frames.find((x) => x.type === 'message' && x.message.role === 'assistant');
  if (f?.type !== 'message') throw new Error('no reply frame');
  return f.message.id;
}

function chunksOf(frames: ServerFrame[], replyId: string): Chunked[] {
  const out: Chunked[] = [];
  for (const f of frames)
    if (f.type === 'chunk' && f.message_id === replyId) out.push({ index: f.index, chunk: f.chunk });
  return out;
}

async function lastReplyId(user: User, conversationId: string): Promise<string> {
  const history = await user.history(conversationId);
  const reply = history.at(-1);
  if (reply?.role !== 'assistant') throw new Error('no reply in the history');
  return reply.id;
}

/** Deterministic cut points spread over 0..MAX_CUT, so every index (and past the end) is tried. */
function cutFor(trial: number): number {
  return (trial * 7) % (MAX_CUT + 1);
}

export const resume: Experiment = {
  key: 'resume',
  title: '5 disconnect and resume',
  async run(profile, log, labs) {
    // Short: 10 cuts, at 0, 7, 14, 3, 10, 17, 6, 13, 2, 9 (before the first chunk and after the last among them).
    const conversations = scaled(profile, { short: 2, full: 20 });
    const perConversation = scaled(profile, { short: 5, full: 50 });
    const result = outcome('cut at every chunk index (WS + SSE): no gap, no duplicate, rebuilt text = stored');
    return withLab(
      () => labs.borrow(),
      result,
      async (lab: Lab) => {
        const trial: ChunkOrder = { gaps: 0, duplicates: 0, failures: result.failures };
        const transcripts: Transcript[] = [];
        await Promise.all(
          Array.from({ length: conversations }, async (_, c) => {
            const user = await lab.user();
            const t = new Transcript(user, await user.conversation());
            transcripts.push(t);
            for (let i = 0; i < perConversation; i++) {
              const n = c * perConversation + i;
              const cutAt = cutFor(n);
              try {
                await (n % 2 === 0 ? wsTrial(user, t, cutAt, trial) : sseTrial(user, t, cutAt, trial));
              } catch (err) {
                trial.failures.push(`trial ${n} (${n % 2 === 0 ? 'ws' : 'sse'}, cut at ${cutAt}): ${String(err)}`);
              }
              result.trials++;
            }
          }),
        );
        log(`${result.trials} cuts, ${trial.gaps} gaps, ${trial.duplicates} duplicate chunks`);
        result.figures.push(
          `${result.trials} cuts (half WebSocket, half SSE): ${trial.gaps} gaps, ${trial.duplicates} duplicate chunks`,
        );
        const v = await checkInvariants(lab, transcripts);
        v.duplicated += trial.duplicates;
        v.outOfOrder += trial.gaps;
        addVerdict(result.verdict, v);
      },
    );
  },
};
