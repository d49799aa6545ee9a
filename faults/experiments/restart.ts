/**
 * Experiment 4: workerd killed (SIGKILL to wrangler dev and workerd, nothing flushed) while a reply streams, then
 * started again on the same storage, with a resumable agent (the dev agent, X-Resumable) and one that is not
 * (bench/timing-agent.ts). Properties: the user message is kept; a client that reconnects and resumes gets no gap
 * and no duplicate; the reply ends once: with the agent that is not resumable as error `interrupted` whose text is a
 * prefix of what the client saw, with the resumable one complete with the text the resuming client assembled (SPEC
 * §6), also when it was killed before the room had written any of its chunks; the conversation takes the next send.
 */

import { startTimingAgent } from '../../bench/timing-agent';
import type { ServerFrame } from '../../worker/wire';
import { type Experiment, type Outcome, outcome, scaled, withLab } from '../experiment';
import { addVerdict, checkInvariants, Transcript } from '../invariants';
import { type Lab, startLab, textOf } from '../lab';

interface Variant {
  name: string;
  resumable: boolean;
  agentUrl: string | undefined;
  resumed: number;
  interrupted: number;
}

export const restart: Experiment = {
  key: 'restart',
  title: '4 workerd killed mid-stream',
  async run(profile, log) {
    const trials = scaled(profile, { short: 1, full: 5 });
    const result = outcome(
      'SIGKILL mid-reply, restart on the same storage, resumable agent and not: message kept, reply ends once, resume clean',
    );
    const timing = await startTimingAgent();
    const variants: Variant[] = [
      { name: 'resumable (dev agent)', resumable: true, agentUrl: undefined, resumed: 0, interrupted: 0 },
      { name: 'not resumable (timing agent)', resumable: false, agentUrl: timing.url, resumed: 0, interrupted: 0 },
    ];
    try {
      // The short profile (CI) kills one reply of the resumable agent only: each restart costs a whole wrangler start.
      for (const variant of profile === 'short' ? variants.slice(0, 1) : variants) {
        await killTrials(result, variant, trials, log);
      }
    } finally {
      await timing.close();
    }
    for (const v of variants.filter((x) => x.resumed + x.interrupted > 0)) {
      result.figures.push(`${v.name}: ${v.resumed} resumed to complete, ${v.interrupted} ended error interrupted`);
    }
    return result;
  },
};

async function killTrials(result: Outcome, variant: Variant, trials: number, log: (line: string) => void) {
  return withLab(
    () => startLab(variant.agentUrl ? { AGENTCORE_URL: variant.agentUrl } : {}),
    result,
    async (lab: Lab) => {
      const user = await lab.user();
      const t = new Transcript(user, await user.conversation('restart'));
      let unseen = 0;
      for (let n = 0; n < trials; n++) {
        const clientMessageId = crypto.randomUUID();
        const content = `!dev words=60 delay_ms=40\nkilled after ${4 + n * 3} chunks`;
        const first = await user.socket(t.conversationId);
        first.send({ type: 'send', content, client_message_id: clientMessageId });
        await first.until((fs) => fs.some((f) => f.type === 'message' && f.message.role === 'assistant'));
        t.admitted.push({ clientMessageId, content });
        const reply = first.frames.find((f) => f.type === 'message' && f.message.role === 'assistant');
        if (reply?.type !== 'message') throw new Error('no reply frame');
        const replyId = reply.message.id;
        const chunks = (fs: ServerFrame[]) =>
          fs.flatMap((f) => (f.type === 'chunk' && f.message_id === replyId ? [f] : []));
        await first.until((fs) => chunks(fs).length >= 4 + n * 3);
        await lab.stack.worker.kill();
        const seen = chunks(first.frames);
        const killedAt = Date.now();
        await lab.stack.worker.start();
        log(
          `${variant.name} #${n}: killed after ${seen.length} chunks, restarted in ${((Date.now() - killedAt) / 1000).toFixed(1)} s`,
        );

        const second = await user.socket(t.conversationId);
        second.send({ type: 'resume', message_id: replyId, from_index: seen.length });
        const final = (fs: ServerFrame[]) =>
          fs.find((f) => f.type === 'message' && f.message.id === replyId && f.message.status !== 'streaming');
        await second.until((fs) => final(fs) !== undefined, 60_000);
        const ended = final(second.frames);
        if (ended?.type !== 'message') throw new Error('no final message');
        const after = chunks(second.frames);
        const indexes = [...seen, ...after].map((f) => f.index);
        const what = `${variant.name} #${n}`;
        if (indexes.some((index, i) => index !== i))
          result.failures.push(`${what}: chunk indexes ${indexes.join(',')}`);
        const streamed = textOf([...seen, ...after].map((f) => f.chunk));
        const code = (ended.message.metadata.error as { code?: string } | undefined)?.code;
        if (ended.message.status === 'complete' && variant.resumable) {
          variant.resumed++;
          t.streamed.set(replyId, streamed);
        } else if (ended.message.status === 'error' && code === 'interrupted' && !variant.resumable) {
          variant.interrupted++;
          if (!streamed.startsWith(ended.message.content))
            result.failures.push(`${what}: the kept text is not what the client saw`);
          // Chunks relayed in the last moments before the kill and not yet written: the client saw them, the reply lost them.
          unseen += streamed.length - ended.message.content.length;
          t.streamed.set(replyId, ended.message.content);
        } else {
          result.failures.push(`${what}: reply ended ${ended.message.status} (${code})`);
        }
        t.ended.set(replyId, ended.message.status);
        first.close();
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
      }
      if (unseen > 0) {
        result.figures.push(
          `${variant.name}: ${unseen} characters the client saw that the interrupted reply did not keep (relayed, not yet written when killed)`,
        );
      }
      addVerdict(result.verdict, await checkInvariants(lab, [t]));
    },
  );
}
