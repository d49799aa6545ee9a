/**
 * Experiment 4: workerd killed (SIGKILL to wrangler dev and workerd, nothing flushed) while a reply streams, then
 * started again on the same storage, with a resumable agent (the dev agent, X-Resumable) and one that is not
 * (the dev agent with `no_resume`: no X-Resumable, nothing kept). Properties: the user message is kept; a client that reconnects and resumes gets no gap
 * and no duplicate; the reply ends once: with the agent that is not resumable as error `interrupted` whose text is a
 * prefix of what the client saw, with the resumable one complete with the text the resuming client assembled (SPEC
 * §6), also when it was killed before the room had written any of its chunks; the conversation takes the next send.
 */
import type { ServerFrame } from '../../worker/wire';
import { type Experiment, type Outcome, outcome, scaled, withLab } from '../experiment';
import { addVerdict, checkInvariants, Transcript } from '../invariants';
import { type Lab, type Labs, type Socket, textOf, type User } from '../lab';

interface Variant {
  name: string;
  resumable: boolean;
  /** Extra `!dev` options for its prompts. */
  options: string;
  resumed: number;
  interrupted: number;
}

export const restart: Experiment = {
  key: 'restart',
  title: '4 workerd killed mid-stream',
  async run(profile, log, labs) {
    const trials = scaled(profile, { short: 1, full: 10 });
    const result = outcome(
      'SIGKILL mid-reply, restart on the same storage, resumable agent and not: message kept, reply ends once, resume clean',
    );
    const variants: Variant[] = [
      { name: 'resumable (dev agent)', resumable: true, options: '', resumed: 0, interrupted: 0 },
      {
        name: 'not resumable (dev agent, no_resume)',
        resumable: false,
        options: ' no_resume',
        resumed: 0,
        interrupted: 0,
      },
    ];
    // One kill stops both variants' replies: each kill costs a whole wrangler start.
    await killTrials(result, variants, trials, log, labs);
    for (const v of variants.filter((x) => x.resumed + x.interrupted > 0)) {
      result.figures.push(`${v.name}: ${v.resumed} resumed to complete, ${v.interrupted} ended error interrupted`);
    }
    return result;
  },
};

interface Streaming {
  variant: Variant;
  user: User;
  t: Transcript;
  first: Socket;
  replyId: string;
}

const chunksOf = (fs: ServerFrame[], replyId: string) =>
  fs.flatMap((f) => (f.type === 'chunk' && f.message_id === replyId ? [f] : []));

/** A reply of `variant` streaming to a socket, `after` chunks in. */
async function streamUntil(lab: Lab, variant: Variant, n: number, after: number): Promise<Streaming> {
  const user = await lab.user();
  const t = new Transcript(user, await user.conversation(`restart ${variant.name}`));
  const clientMessageId = crypto.randomUUID();
  const content = `!dev words=60 delay_ms=40${variant.options}\nkilled after ${after} chunks (#${n})`;
  const first = await user.socket(t.conversationId);
  first.send({ type: 'send', content, client_message_id: clientMessageId });
  await first.until((fs) => fs.some((f) => f.type === 'message' && f.message.role === 'assistant'));
  t.admitted.push({ clientMessageId, content });
  const reply = first.frames.find((f) => f.type === 'message' && f.message.role === 'assistant');
  if (reply?.type !== 'message') throw new Error('no reply frame');
  const replyId = reply.message.id;
  await first.until((fs) => chunksOf(fs, replyId).length >= after);
  return { variant, user, t, first, replyId };
}

/** After the restart: the client reconnects and resumes; the reply must end as the variant says, then a send works. */
async function resumeAfter(s: Streaming, seen: ServerFrame[], n: number, result: Outcome): Promise<number> {
  const { variant, user, t, replyId } = s;
  const second = await user.socket(t.conversationId);
  second.send({ type: 'resume', message_id: replyId, from_index: seen.length });
  const final = (fs: ServerFrame[]) =>
    fs.find((f) => f.type === 'message' && f.message.id === replyId && f.message.status !== 'streaming');
  await second.until((fs) => final(fs) !== undefined, 60_000);
  const ended = final(second.frames);
  if (ended?.type !== 'message') throw new Error('no final message');
  const after = chunksOf(second.frames, replyId);
  const all = [...seen, ...after].flatMap((f) => (f.type === 'chunk' ? [f] : []));
  const what = `${variant.name} #${n}`;
  if (all.some((f, i) => f.index !== i))
    result.failures.push(`${what}: chunk indexes ${all.map((f) => f.index).join(',')}`);
  const streamed = textOf(all.map((f) => f.chunk));
  const code = (ended.message.metadata.error as { code?: string } | undefined)?.code;
  let unseen = 0;
  if (ended.message.status === 'complete' && variant.resumable) {
    variant.resumed++;
    t.streamed.set(replyId, streamed);
  } else if (ended.message.status === 'error' && code === 'interrupted' && !variant.resumable) {
    variant.interrupted++;
    if (!streamed.startsWith(ended.message.content))
      result.failures.push(`${what}: the kept text is not what the client saw`);
    // Chunks relayed in the last moments before the kill and not yet written: the client saw them, the reply lost them.
    unseen = streamed.length - ended.message.content.length;
    t.streamed.set(replyId, ended.message.content);
  } else {
    result.failures.push(`${what}: reply ended ${ended.message.status} (${code})`);
  }
  t.ended.set(replyId, ended.message.status);
  s.first.close();
  second.close();
  const next = `!dev words=3\nafter restart ${n}`;
  const nextId = crypto.randomUUID();
  const sent = await user.ok<{ reply: { status: string } }>('POST', '/messages', {
    conversation_id: t.conversationId,
    content: next,
    client_message_id: nextId,
  });
  t.admitted.push({ clientMessageId: nextId, content: next });
  if (sent.reply.status !== 'complete') result.failures.push(`${what}: the next send ended ${sent.reply.status}`);
  result.trials++;
  return unseen;
}

/** Each trial: a reply of every variant streaming, one SIGKILL, one restart, every client resumes. */
async function killTrials(
  result: Outcome,
  variants: Variant[],
  trials: number,
  log: (line: string) => void,
  labs: Labs,
) {
  return withLab(
    () => labs.borrow(),
    result,
    async (lab: Lab) => {
      const transcripts: Transcript[] = [];
      const unseen = new Map<Variant, number>();
      for (let n = 0; n < trials; n++) {
        const after = 4 + n * 3;
        const streaming = await Promise.all(variants.map((v) => streamUntil(lab, v, n, after)));
        transcripts.push(...streaming.map((s) => s.t));
        await lab.stack.worker.kill();
        const seen = streaming.map((s) => chunksOf(s.first.frames, s.replyId));
        const killedAt = Date.now();
        await lab.stack.worker.start();
        log(
          `#${n}: killed after ${seen.map((c) => c.length).join(' and ')} chunks, restarted in ${((Date.now() - killedAt) / 1000).toFixed(1)} s`,
        );
        await Promise.all(
          streaming.map(async (s, i) => {
            const lost = await resumeAfter(s, seen[i] ?? [], n, result).catch((err: unknown) => {
              result.failures.push(`${s.variant.name} #${n}: ${String(err)}`);
              return 0;
            });
            unseen.set(s.variant, (unseen.get(s.variant) ?? 0) + lost);
          }),
        );
      }
      for (const [variant, chars] of unseen) {
        if (chars > 0)
          result.figures.push(
            `${variant.name}: ${chars} characters the client saw that the interrupted reply did not keep (relayed, not yet written when killed)`,
          );
      }
      addVerdict(result.verdict, await checkInvariants(lab, transcripts));
    },
  );
}
