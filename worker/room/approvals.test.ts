import { abortAllDurableObjects, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import {
  allEvents,
  type Client,
  client,
  eventually,
  mustOpen,
  pgQuery,
  sseEvents,
  type TestSocket,
  uniqueUser,
} from '../test-support';
import { ErrorEnvelope, type Message, SendResult, type ServerFrame } from '../wire';

/** A reply that asks before using the calculator on 6*7 (the dev agent's `approve=calc`), slow enough to join. */
const ASK = '!dev approve=calc calc=6*7 delay_ms=60';

type ToolPart = { type: string; state: string; toolCallId: string; approval?: Record<string, unknown> };
const toolPart = (m: Message) => m.parts.find((p) => p.type === 'tool-calculator') as ToolPart | undefined;
const approvalIdOf = (m: Message) => String(toolPart(m)?.approval?.id);

const approve = (who: Client, conversationId: string, body: Record<string, unknown>, accept?: string) =>
  who.call('POST', `/conversations/${conversationId}/approvals`, {
    body,
    ...(accept ? { headers: { accept } } : {}),
  });

async function ok(res: Promise<Response>) {
  const r = await res;
  const text = await r.text();
  expect(r.status, text).toBe(200);
  return SendResult.parse(JSON.parse(text));
}

async function errorOf(res: Promise<Response>): Promise<{ status: number; code: string }> {
  const r = await res;
  return { status: r.status, code: ErrorEnvelope.parse(await r.json()).error.code };
}

/** The chunks a socket got for `messageId`, in the order they came. */
const chunksOf = (tab: TestSocket, messageId: string) => chunkFrames(tab.frames, messageId);
const chunkFrames = (frames: ServerFrame[], messageId: string) =>
  frames.flatMap((f) => (f.type === 'chunk' && f.message_id === messageId ? [f] : []));

const finalFrame = (messageId: string) => (frames: ServerFrame[]) =>
  frames.some(
    (f) => f.type === 'message' && f.message.id === messageId && f.message.status === 'complete' && !asking(f.message),
  );
const asking = (m: Message) => toolPart(m)?.state === 'approval-requested';

/** JSON with sorted keys: Postgres jsonb keeps its own key order. */
const canonical = (v: unknown): string =>
  JSON.stringify(v, (_key, value: unknown) =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)))
      : value,
  );

/** The conversation's messages as Postgres has them, once the reply `replyId` has settled there as `want`. */
async function pgSettled(replyId: string, want: Message) {
  const rows = await eventually(
    () =>
      pgQuery<{ status: string; content: string; parts: unknown }>(
        'select status, content, parts from conversation_messages where id = $1',
        [replyId],
      ),
    (r) => canonical(r[0]?.parts) === canonical(want.parts) && r[0]?.status === want.status,
  );
  return rows[0];
}

describe('tool approval (SPEC §9)', () => {
  it('an approval continues the same message with indexes that go on; a tab that joins mid-continuation misses nothing', async () => {
    const alice = client(uniqueUser('alice'));
    const c = (await alice.createConversation()).id;
    const first = await mustOpen(c, alice.userId);
    const sent = await ok(alice.call('POST', '/messages', { body: { conversation_id: c, content: ASK } }));
    const reply = sent.reply;
    expect(reply.status).toBe('complete');
    expect(toolPart(reply)).toMatchObject({ state: 'approval-requested', input: { expression: '6*7' } });
    await first.until((f) => f.some((x) => x.type === 'message' && x.message.id === reply.id && asking(x.message)));
    const asked = chunksOf(first, reply.id);
    const stopped = asked.length;
    expect(asked.map((f) => f.index)).toEqual([...Array(stopped).keys()]);
    expect(asked.some((f) => f.chunk.type === 'tool-approval-request')).toBe(true);

    // The answer over SSE: the continuation from where the reply stopped, as useChat reads it.
    const answer = await approve(alice, c, { approval_id: approvalIdOf(reply), approved: true }, 'text/event-stream');
    expect(answer.status).toBe(200);
    const events = allEvents(answer);

    // A second tab joins while the continuation streams and asks for the whole reply from index 0.
    await first.until((f) => chunkFrames(f, reply.id).length >= stopped + 3);
    const second = await mustOpen(c, alice.userId);
    const ready = second.frames.find((f) => f.type === 'ready');
    expect(ready?.type === 'ready' && ready.streaming?.message_id).toBe(reply.id);
    second.send({ type: 'resume', message_id: reply.id, from_index: 0 });

    await first.until(finalFrame(reply.id), 20_000);
    await second.until(finalFrame(reply.id), 20_000);
    const all = chunksOf(first, reply.id);
    expect(all.map((f) => f.index)).toEqual([...Array(all.length).keys()]);
    expect(all[stopped]?.chunk).toMatchObject({ type: 'start', messageId: reply.id });
    expect(chunksOf(second, reply.id)).toEqual(all);

    const sse = await events;
    expect(sse[0]?.id).toBe(`${reply.id}:${stopped}`);
    expect(sse.filter((e) => e.id).map((e) => JSON.parse(e.data))).toEqual(all.slice(stopped).map((f) => f.chunk));

    const history = (await alice.history(c)).messages;
    expect(history.map((m) => m.id)).toEqual([sent.message.id, reply.id]);
    const done = history[1] as Message;
    expect(done.status).toBe('complete');
    expect(done.content).toBe('The result of 6*7 is 42.');
    expect(toolPart(done)).toMatchObject({
      state: 'output-available',
      output: { result: '42' },
      approval: { id: approvalIdOf(reply), approved: true },
    });
    const row = await pgSettled(reply.id, done);
    expect(row).toEqual({ status: 'complete', content: done.content, parts: done.parts });
    first.close();
    second.close();
  }, 60_000);

  it('a denial from a second tab, while the first is closed, continues with the tool refused', async () => {
    const alice = client(uniqueUser('alice'));
    const c = (await alice.createConversation()).id;
    const first = await mustOpen(c, alice.userId);
    const { reply } = await ok(alice.call('POST', '/messages', { body: { conversation_id: c, content: ASK } }));
    await first.until((f) => f.some((x) => x.type === 'message' && x.message.id === reply.id));
    first.close();

    const second = await mustOpen(c, alice.userId);
    second.send({ type: 'approve', approval_id: approvalIdOf(reply), approved: false, reason: 'not now' });
    await second.until((f) =>
      f.some((x) => x.type === 'message' && x.message.id === reply.id && x.message.status === 'streaming'),
    );
    await second.until(finalFrame(reply.id), 20_000);
    const done = (await alice.history(c)).messages.at(-1) as Message;
    expect(done.id).toBe(reply.id);
    expect(done.content).toBe('I did not use the calculator: not now.');
    expect(toolPart(done)).toMatchObject({
      state: 'output-denied',
      approval: { id: approvalIdOf(reply), approved: false, reason: 'not now' },
    });
    expect(await pgSettled(reply.id, done)).toMatchObject({ status: 'complete', parts: done.parts });
    second.close();
  }, 60_000);

  it('remember: "conversation" answers the same tool’s later requests at once, marked remembered', async () => {
    const alice = client(uniqueUser('alice'));
    const first = await alice.send(undefined, '!dev approve=calc calc=1+1');
    const c = first.conversation.id;
    const answered = await ok(
      approve(alice, c, { approval_id: approvalIdOf(first.reply), approved: true, remember: 'conversation' }),
    );
    expect(answered.reply.content).toBe('The result of 1+1 is 2.');

    const tab = await mustOpen(c, alice.userId);
    const later = await alice.send(c, '!dev approve=calc calc=6*7');
    expect(later.reply.status).toBe('complete');
    expect(later.reply.content).toBe('The result of 6*7 is 42.');
    expect(toolPart(later.reply)).toMatchObject({
      state: 'output-available',
      approval: { id: approvalIdOf(later.reply), approved: true, reason: 'remembered' },
    });
    // Every tab saw it ask, then go on by itself.
    await tab.until(finalFrame(later.reply.id), 20_000);
    const states = tab.frames.flatMap((f) =>
      f.type === 'message' && f.message.id === later.reply.id ? [toolPart(f.message)?.state ?? 'none'] : [],
    );
    expect(states).toEqual(['none', 'approval-requested', 'approval-responded', 'output-available']);
    expect(await pgSettled(later.reply.id, later.reply)).toMatchObject({
      status: 'complete',
      parts: later.reply.parts,
    });
    expect(await errorOf(approve(alice, c, { approval_id: approvalIdOf(later.reply), approved: false }))).toEqual({
      status: 409,
      code: 'already_answered',
    });
    tab.close();
  }, 60_000);

  it('a send while an approval is pending denies it as superseded, then proceeds', async () => {
    const alice = client(uniqueUser('alice'));
    const first = await alice.send(undefined, '!dev approve=calc calc=6*7');
    const c = first.conversation.id;
    const tab = await mustOpen(c, alice.userId);
    const next = await alice.send(c, '!dev words=2');
    expect(next.reply.status).toBe('complete');
    const superseded = (m: Message) =>
      toolPart(m)?.state === 'approval-responded' &&
      toolPart(m)?.approval?.approved === false &&
      toolPart(m)?.approval?.reason === 'superseded';
    await tab.until((f) =>
      f.some((x) => x.type === 'message' && x.message.id === first.reply.id && superseded(x.message)),
    );
    const history = (await alice.history(c)).messages;
    expect(history.map((m) => m.id)).toEqual([first.message.id, first.reply.id, next.message.id, next.reply.id]);
    const denied = history[1] as Message;
    expect(denied.status).toBe('complete');
    expect(superseded(denied)).toBe(true);
    expect(await pgSettled(denied.id, denied)).toMatchObject({ status: 'complete', parts: denied.parts });
    expect(await errorOf(approve(alice, c, { approval_id: approvalIdOf(first.reply), approved: true }))).toEqual({
      status: 409,
      code: 'already_answered',
    });
    tab.close();
  }, 60_000);

  it('a regenerate while an approval is pending denies it as superseded too, on the reply it replaces', async () => {
    const alice = client(uniqueUser('alice'));
    const first = await alice.send(undefined, '!dev approve=calc calc=6*7');
    const c = first.conversation.id;
    const again = await ok(
      alice.call('POST', `/conversations/${c}/regenerate`, { body: { message_id: first.reply.id } }),
    );
    expect(toolPart(again.reply)?.state).toBe('approval-requested');
    const replaced = (await alice.history(c, '?limit=200')).messages;
    expect(replaced.map((m) => m.id)).toEqual([first.message.id, again.reply.id]);
    expect(await errorOf(approve(alice, c, { approval_id: approvalIdOf(first.reply), approved: true }))).toEqual({
      status: 409,
      code: 'already_answered',
    });
    const partIn = (rows: { parts: Message['parts'] }[]) =>
      rows[0]?.parts.find((p) => p.type === 'tool-calculator') as ToolPart | undefined;
    const stored = await eventually(
      () =>
        pgQuery<{ parts: Message['parts'] }>('select parts from conversation_messages where id = $1', [first.reply.id]),
      (rows) => partIn(rows)?.state === 'approval-responded',
    );
    const part = partIn(stored);
    expect(part).toMatchObject({ state: 'approval-responded', approval: { approved: false, reason: 'superseded' } });
    // The new reply's own request is still open to a person.
    expect(
      (await ok(approve(alice, c, { approval_id: approvalIdOf(again.reply), approved: true }))).reply.content,
    ).toBe('The result of 6*7 is 42.');
  }, 60_000);

  it('goes on with a continuation in flight after a restart: the same message, the answer kept', async () => {
    const alice = client(uniqueUser('alice'));
    const first = await alice.send(undefined, '!dev approve=calc calc=6*7 delay_ms=150');
    const c = first.conversation.id;
    const reply = first.reply.id;
    const res = await approve(
      alice,
      c,
      { approval_id: approvalIdOf(first.reply), approved: true },
      'text/event-stream',
    );
    const seen: string[] = [];
    for await (const e of sseEvents(res)) {
      seen.push(e.id ?? '');
      if (seen.length >= 5) break;
    }
    const from = Number(seen[0]?.split(':')[1]);
    // Until the room has kept the continuation's first chunks (what a restart resumes from), then kill it.
    const stub = env.ROOMS.get(env.ROOMS.idFromName(c));
    const kept = () =>
      runInDurableObject(stub, async (_room, state) => {
        const rows = await state.storage.list<unknown[] | { chunks: unknown[] }>({ prefix: `chunk:${reply}:` });
        return [...rows.values()].reduce<number>((n, r) => n + (Array.isArray(r) ? r.length : r.chunks.length), 0);
      });
    expect(await eventually(kept, (n) => n >= from + 3)).toBeGreaterThanOrEqual(from + 3);
    await abortAllDurableObjects();

    const ended = await eventually(
      () => alice.history(c),
      (h) => h.messages[1]?.status !== 'streaming',
      30_000,
    );
    const done = ended.messages[1] as Message;
    expect(done.id).toBe(reply);
    expect(done.status).toBe('complete');
    expect(done.content).toBe('The result of 6*7 is 42.');
    expect(toolPart(done)).toMatchObject({ state: 'output-available', approval: { approved: true } });
  }, 60_000);

  it('refuses an unknown approval (404), one already answered (409), and another user’s (404)', async () => {
    const alice = client(uniqueUser('alice'));
    const first = await alice.send(undefined, '!dev approve=calc calc=2*3 delay_ms=40');
    const c = first.conversation.id;
    const id = approvalIdOf(first.reply);
    expect(await errorOf(approve(alice, c, { approval_id: 'approval-nope', approved: true }))).toEqual({
      status: 404,
      code: 'not_found',
    });
    const bob = client(uniqueUser('bob'));
    expect(await errorOf(approve(bob, c, { approval_id: id, approved: true }))).toEqual({
      status: 404,
      code: 'not_found',
    });
    expect((await errorOf(approve(alice, c, { approval_id: id, approved: 'yes' }))).status).toBe(400);
    // Two answers at once: one goes on, the other is refused while it does or once it has.
    const [a, b] = await Promise.all([
      approve(alice, c, { approval_id: id, approved: true }),
      approve(alice, c, { approval_id: id, approved: false }),
    ]);
    const statuses = [a.status, b.status].sort();
    expect(statuses).toEqual([200, 409]);
    const refused = a.status === 409 ? a : b;
    expect(['already_answered', 'reply_in_progress']).toContain(ErrorEnvelope.parse(await refused.json()).error.code);
    expect(await errorOf(approve(alice, c, { approval_id: id, approved: false }))).toEqual({
      status: 409,
      code: 'already_answered',
    });
    // Whichever came first is the answer the reply went on with.
    const done = (await alice.history(c)).messages.at(-1) as Message;
    expect(done.content).toBe(
      a.status === 200 ? 'The result of 2*3 is 6.' : 'I did not use the calculator: the request was denied.',
    );
  }, 60_000);
});
