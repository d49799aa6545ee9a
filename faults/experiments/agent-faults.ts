/**
 * Experiment 3: the agent misbehaves. The dev agent fails with an error chunk, drops the connection, hangs, sends a
 * chunk that is not JSON, or is slow to its first byte (the stack runs with short first-chunk and idle timeouts).
 * Properties: every reply ends as error with exactly the text streamed before the fault, the error says what
 * happened, and the next send in the same conversation works. And replies (`!dev poison`) whose text holds
 * NUL and unpaired surrogates, which Postgres cannot store: the reply is kept with U+FFFD in their place and reaches
 * Postgres, and the conversation's later messages too.
 */
import { type Experiment, type Outcome, outcome, scaled, withLab } from '../experiment';
import { addVerdict, checkInvariants, Transcript } from '../invariants';
import { type Lab, textOf, type User } from '../lab';

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
  async run(profile, log, labs) {
    const trials = scaled(profile, { short: 2, full: 50 });
    const result = outcome(
      'fail, cut, hang, garbage, slow first byte: error with partial text, next send works; NUL text kept',
    );
    return withLab(
      // Its own lab: the short agent timeouts would end slow replies of the other experiments.
      () =>
        labs.own({
          AGENTCORE_FIRST_CHUNK_TIMEOUT_MS: String(FIRST_CHUNK_TIMEOUT_MS),
          AGENTCORE_IDLE_TIMEOUT_MS: String(IDLE_TIMEOUT_MS),
        }),
      result,
      async (lab: Lab) => {
        const tally: Tally = { trials: 0, failures: result.failures };
        const transcripts: Transcript[] = [];
        await Promise.all([
          poisonText(lab, result, trials, log).then((t) => transcripts.push(t)),
          ...FAULTS.map(async (fault) => {
            const user = await lab.user();
            const t = new Transcript(user, await user.conversation(fault.name));
            transcripts.push(t);
            for (let n = 0; n < trials; n++) {
              await faultTrial(user, t, fault, n, tally).catch((err: unknown) => {
                tally.failures.push(String(err));
              });
            }
          }),
        ]);
        result.trials += tally.trials;
        log(`${tally.trials} faulty replies`);
        result.figures.push(
          `${trials} of each of ${FAULTS.map((f) => f.name).join(', ')}; timeouts: first chunk ${FIRST_CHUNK_TIMEOUT_MS} ms, idle ${IDLE_TIMEOUT_MS} ms`,
        );
        addVerdict(result.verdict, await checkInvariants(lab, transcripts));
      },
    );
  },
};

/**
 * Replies whose text holds NUL and an unpaired surrogate (the dev agent's `!dev poison`, sent as JSON escapes), which
 * Postgres cannot store: each is kept with U+FFFD in their place and reaches Postgres, and the conversation's later
 * messages too.
 */
async function poisonText(lab: Lab, result: Outcome, trials: number, log: (line: string) => void): Promise<Transcript> {
  const user = await lab.user();
  const t = new Transcript(user, await user.conversation('poison'));
  for (let n = 0; n < trials; n++) {
    for (const content of [`!dev poison\npoison ${n}`, `!dev words=2\nafter poison ${n}`]) {
      const clientMessageId = crypto.randomUUID();
      const sent = await user.ok<{ reply: { id: string; status: string; content: string } }>('POST', '/messages', {
        conversation_id: t.conversationId,
        content,
        client_message_id: clientMessageId,
      });
      t.admitted.push({ clientMessageId, content });
      if (sent.reply.status !== 'complete')
        result.failures.push(`${content.split('\n')[1]}: reply ${sent.reply.status}`);
      const expected = content.startsWith('!dev poison') ? 'poison\ufffd text \ufffd here' : undefined;
      if (expected !== undefined && sent.reply.content !== expected) {
        result.failures.push(`poison text #${n}: kept ${JSON.stringify(sent.reply.content)}`);
      }
    }
    result.trials++;
  }
  log(`${trials} replies with NUL and unpaired surrogates`);
  result.figures.push(`${trials} replies whose text held NUL and unpaired surrogates: kept with U+FFFD, in Postgres`);
  return t;
}
