/**
 * Experiment 3: the agent misbehaves. The dev agent fails with an error chunk, drops the connection, hangs, sends a
 * chunk that is not JSON, or is slow to its first byte (the stack runs with short first-chunk and idle timeouts).
 * Properties: every reply ends as error with exactly the text streamed before the fault, the error says what
 * happened, and the next send in the same conversation works. Then an agent (a small server here) whose text holds
 * NUL and unpaired surrogates, which Postgres cannot store: the reply is kept with U+FFFD in their place and reaches
 * Postgres, and the conversation's later messages too.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Experiment, type Outcome, outcome, scaled, withLab } from '../experiment';
import { addVerdict, checkInvariants, Transcript } from '../invariants';
import { type Lab, startLab, textOf, type User } from '../lab';

const FIRST_CHUNK_TIMEOUT_MS = 1_000;
const IDLE_TIMEOUT_MS = 1_000;

interface Fault {
  name: string;
  /** The `!dev` options for trial n, and how many words must have been kept. */
  prompt(n: number): { options: string; words: number };
}

const FAULTS: Fault[] = [
  { name: 'fail', prompt: (n) => ({ options: `words=20 fail_after=${n % 8}`, words: n % 8 }) },
  { name: 'cut', prompt: (n) => ({ options: `words=20 cut_after=${n % 8}`, words: n % 8 }) },
  { name: 'hang', prompt: (n) => ({ options: `words=20 hang_after=${n % 8}`, words: n % 8 }) },
  { name: 'garbage chunk', prompt: (n) => ({ options: `words=${n % 8} garbage`, words: n % 8 }) },
  {
    name: 'slow first byte',
    prompt: () => ({ options: `words=3 delay_ms=${FIRST_CHUNK_TIMEOUT_MS * 2}`, words: 0 }),
  },
];

interface Tally {
  trials: number;
  failures: string[];
}

async function faultTrial(user: User, t: Transcript, fault: Fault, n: number, tally: Tally): Promise<void> {
  const { options, words } = fault.prompt(n);
  const content = `!dev ${options}\n${fault.name} trial ${n}`;
  const clientMessageId = crypto.randomUUID();
  const what = `${fault.name} #${n} (${options})`;
  let replyId: string;
  let streamed: string | undefined;
  if (n % 2 === 0) {
    const read = await user.sendSse({ conversation_id: t.conversationId, content, client_message_id: clientMessageId });
    if (read.status !== 200) throw new Error(`${what}: SSE send answered ${read.status} ${read.text.slice(0, 200)}`);
    const chunks = read.events.map((e) => JSON.parse(e.data) as { type: string; delta?: unknown });
    replyId = read.events[0]?.id?.split(':')[0] ?? '';
    streamed = textOf(chunks);
    if (chunks.at(-1)?.type !== 'error') tally.failures.push(`${what}: the stream did not end with an error chunk`);
    if (!read.done) tally.failures.push(`${what}: the stream did not end with [DONE]`);
  } else {
    const sent = await user.ok<{ reply: { id: string } }>('POST', '/messages', {
      conversation_id: t.conversationId,
      content,
      client_message_id: clientMessageId,
    });
    replyId = sent.reply.id;
  }
  t.admitted.push({ clientMessageId, content });
  const reply = (await user.history(t.conversationId)).find((m) => m.id === replyId);
  if (!reply) throw new Error(`${what}: reply ${replyId} is not in the history`);
  if (streamed !== undefined) t.streamed.set(replyId, streamed);
  t.ended.set(replyId, 'error');
  const kept = reply.content.trim() ? reply.content.trim().split(/\s+/).length : 0;
  if (kept !== words) tally.failures.push(`${what}: kept ${kept} words, ${words} were streamed`);
  const error = reply.metadata.error as { code?: unknown } | undefined;
  if (typeof error?.code !== 'string') tally.failures.push(`${what}: no error code in the reply's metadata`);

  const next = `!dev words=2\nafter ${fault.name} ${n}`;
  const nextId = crypto.randomUUID();
  const after = await user.ok<{ reply: { status: string } }>('POST', '/messages', {
    conversation_id: t.conversationId,
    content: next,
    client_message_id: nextId,
  });
  t.admitted.push({ clientMessageId: nextId, content: next });
  if (after.reply.status !== 'complete') tally.failures.push(`${what}: the next send ended ${after.reply.status}`);
  tally.trials++;
}

export const agentFaults: Experiment = {
  key: 'agent',
  title: '3 agent faults',
  async run(profile, log) {
    const trials = scaled(profile, { short: 3, full: 50 });
    const result = outcome(
      'fail, cut, hang, garbage, slow first byte: error with partial text, next send works; NUL text kept',
    );
    return withLab(
      () =>
        startLab({
          AGENTCORE_FIRST_CHUNK_TIMEOUT_MS: String(FIRST_CHUNK_TIMEOUT_MS),
          AGENTCORE_IDLE_TIMEOUT_MS: String(IDLE_TIMEOUT_MS),
        }),
      result,
      async (lab: Lab) => {
        const tally: Tally = { trials: 0, failures: result.failures };
        const transcripts: Transcript[] = [];
        await Promise.all(
          FAULTS.map(async (fault) => {
            const user = await lab.user();
            const t = new Transcript(user, await user.conversation(fault.name));
            transcripts.push(t);
            for (let n = 0; n < trials; n++) {
              await faultTrial(user, t, fault, n, tally).catch((err: unknown) => {
                tally.failures.push(String(err));
              });
            }
          }),
        );
        result.trials = tally.trials;
        log(`${tally.trials} faulty replies`);
        result.figures.push(
          `${trials} of each of ${FAULTS.map((f) => f.name).join(', ')}; timeouts: first chunk ${FIRST_CHUNK_TIMEOUT_MS} ms, idle ${IDLE_TIMEOUT_MS} ms`,
        );
        addVerdict(result.verdict, await checkInvariants(lab, transcripts));
      },
    ).then((r) => poisonText(r, trials, log));
  },
};

const POISON = 'poison\u0000 text \ud800 here';

/** An agent whose every reply holds text Postgres cannot store as it is. */
async function startPoisonAgent(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer(async (req, res) => {
    for await (const _ of req);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'x-vercel-ai-ui-message-stream': 'v1' });
    for (const chunk of [
      { type: 'start' },
      { type: 'text-start', id: 't' },
      { type: 'text-delta', id: 't', delta: POISON },
      { type: 'text-end', id: 't' },
      { type: 'finish' },
    ]) {
      res.write(`data: ${JSON.stringify(chunk)}\n\n`);
    }
    res.end('data: [DONE]\n\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/agent`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function poisonText(result: Outcome, trials: number, log: (line: string) => void): Promise<Outcome> {
  const agent = await startPoisonAgent();
  try {
    return await withLab(
      () => startLab({ AGENTCORE_URL: agent.url }),
      result,
      async (lab) => {
        const user = await lab.user();
        const t = new Transcript(user, await user.conversation('poison'));
        for (let n = 0; n < trials; n++) {
          const content = `poison ${n}`;
          const clientMessageId = crypto.randomUUID();
          const sent = await user.ok<{ reply: { id: string; status: string; content: string } }>('POST', '/messages', {
            conversation_id: t.conversationId,
            content,
            client_message_id: clientMessageId,
          });
          t.admitted.push({ clientMessageId, content });
          if (sent.reply.status !== 'complete') result.failures.push(`poison text #${n}: reply ${sent.reply.status}`);
          if (sent.reply.content !== 'poison\ufffd text \ufffd here') {
            result.failures.push(`poison text #${n}: kept ${JSON.stringify(sent.reply.content)}`);
          }
          result.trials++;
        }
        log(`${trials} replies with NUL and unpaired surrogates`);
        result.figures.push(
          `${trials} replies whose text held NUL and unpaired surrogates: kept with U+FFFD, in Postgres`,
        );
        addVerdict(result.verdict, await checkInvariants(lab, [t], 30_000));
      },
    );
  } finally {
    await agent.close();
  }
}
