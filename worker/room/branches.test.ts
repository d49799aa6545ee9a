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
import { type Conversation, ErrorEnvelope, HeadResult, type Message, SendResult, type ServerFrame } from '../wire';

/** The ids of the history the agent was sent, as the dev agent's `inspect` reports them. */
const agentSaw = (reply: Message) => /history=(\S*)/.exec(reply.content)?.[1]?.split(',') ?? [];
const triggerOf = (reply: Message) => /trigger=(\S+)/.exec(reply.content)?.[1];
const ids = (messages: Message[]) => messages.map((m) => m.id);

async function activeBranch(alice: Client, conversationId: string): Promise<Message[]> {
  return (await alice.history(conversationId, '?limit=200')).messages;
}

const regenerate = (alice: Client, conversationId: string, messageId: string, clientMessageId?: string) =>
  alice.call('POST', `/conversations/${conversationId}/regenerate`, {
    body: { message_id: messageId, ...(clientMessageId ? { client_message_id: clientMessageId } : {}) },
  });
const edit = (alice: Client, conversationId: string, editOf: string, content: string, clientMessageId?: string) =>
  alice.call('POST', '/messages', {
    body: {
      conversation_id: conversationId,
      content,
      edit_of: editOf,
      ...(clientMessageId ? { client_message_id: clientMessageId } : {}),
    },
  });
const switchTo = (alice: Client, conversationId: string, messageId: string) =>
  alice.call('POST', `/conversations/${conversationId}/head`, { body: { message_id: messageId } });

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

/** Every message of every branch as the room stores them, by seq. */
function roomRows(conversationId: string) {
  const stub = env.ROOMS.get(env.ROOMS.idFromName(conversationId));
  return runInDurableObject(stub, (_room, state) =>
    state.storage.sql
      .exec('SELECT id, seq, role, status, content, parent_id, reply_to FROM messages ORDER BY seq')
      .toArray()
      .map((r) => ({ ...r })),
  );
}

/** Until the room has kept at least `n` chunks of a reply in its storage (what a restart resumes from). */
async function keptAtLeast(conversationId: string, messageId: string, n: number): Promise<void> {
  const stub = env.ROOMS.get(env.ROOMS.idFromName(conversationId));
  const kept = () =>
    runInDurableObject(stub, async (_room, state) => {
      const batches = await state.storage.list<{ chunks: unknown[] }>({ prefix: `chunk:${messageId}:` });
      return [...batches.values()].reduce((count, batch) => count + batch.chunks.length, 0);
    });
  expect(await eventually(kept, (k) => k >= n)).toBeGreaterThanOrEqual(n);
}

describe('the conversation as a tree (SPEC §9)', () => {
  it('branches by regenerate and by edit, switches back and forth; history and the agent get the active path only', async () => {
    const alice = client(uniqueUser('alice'));
    const first = await alice.send(undefined, '!dev words=2');
    const c = first.conversation.id;
    const [u1, a1] = [first.message, first.reply];
    expect([u1.parent_id, a1.parent_id]).toEqual([null, u1.id]);
    const second = await alice.send(c, '!dev inspect');
    const [u2, a2] = [second.message, second.reply];
    expect(u2.parent_id).toBe(a1.id);
    expect(agentSaw(a2)).toEqual([u1.id, a1.id, u2.id]);

    // Regenerate: a new reply to u2 beside a2, the head; the agent is told which reply it replaces.
    const again = await ok(regenerate(alice, c, a2.id));
    const a2b = again.reply;
    expect(again.message.id).toBe(u2.id);
    expect(a2b).toMatchObject({ parent_id: u2.id, reply_to: u2.id, seq: 5, branch: { index: 2, count: 2 } });
    expect(triggerOf(a2b)).toBe('regenerate-message');
    expect(a2b.content).toContain(`replaces=${a2.id}`);
    expect(agentSaw(a2b)).toEqual([u1.id, a1.id, u2.id]);
    expect(again.conversation).toMatchObject({ head_id: a2b.id, message_count: 5 });
    expect(ids(await activeBranch(alice, c))).toEqual([u1.id, a1.id, u2.id, a2b.id]);

    // Edit: a user message beside u2, then its reply, the head.
    const edited = await ok(edit(alice, c, u2.id, '!dev inspect\nedited'));
    const [u2b, a2c] = [edited.message, edited.reply];
    expect(u2b).toMatchObject({ parent_id: a1.id, seq: 6, branch: { index: 2, count: 2 } });
    expect(a2c).toMatchObject({ parent_id: u2b.id, seq: 7, branch: { index: 1, count: 1 } });
    expect(triggerOf(a2c)).toBe('submit-message');
    expect(agentSaw(a2c)).toEqual([u1.id, a1.id, u2b.id]);
    const onEdit = await activeBranch(alice, c);
    expect(ids(onEdit)).toEqual([u1.id, a1.id, u2b.id, a2c.id]);
    const alone = { index: 1, count: 1, previous_id: null, next_id: null };
    expect(onEdit.map((m) => m.branch)).toEqual([
      alone,
      alone,
      { index: 2, count: 2, previous_id: u2.id, next_id: null },
      alone,
    ]);

    const third = await alice.send(c, '!dev inspect');
    expect(third.message.parent_id).toBe(a2c.id);
    expect(agentSaw(third.reply)).toEqual([u1.id, a1.id, u2b.id, a2c.id, third.message.id]);

    // Back to the first reply: history, the conversation, and the next send's history follow it.
    const switched = HeadResult.parse(await (await switchTo(alice, c, a2.id)).json());
    expect(switched.head_id).toBe(a2.id);
    expect(ids(await activeBranch(alice, c))).toEqual([u1.id, a1.id, u2.id, a2.id]);
    const shown = await alice.json<Conversation>('GET', `/conversations/${c}`);
    expect(shown.head_id).toBe(a2.id);
    const fourth = await alice.send(c, '!dev inspect');
    expect(fourth.message.parent_id).toBe(a2.id);
    expect(agentSaw(fourth.reply)).toEqual([u1.id, a1.id, u2.id, a2.id, fourth.message.id]);

    // Forth to the edit: its newest leaf, so the turn made on it after the edit.
    const forth = HeadResult.parse(await (await switchTo(alice, c, u2b.id)).json());
    expect(forth.head_id).toBe(third.reply.id);
    const path = await activeBranch(alice, c);
    expect(ids(path)).toEqual([u1.id, a1.id, u2b.id, a2c.id, third.message.id, third.reply.id]);
    const paged = await alice.history(c, `?limit=2&before_seq=${third.message.seq}`);
    expect(ids(paged.messages)).toEqual([u2b.id, a2c.id]);
    expect(paged.has_more).toBe(true);
    const fifth = await alice.send(c, '!dev inspect');
    expect(agentSaw(fifth.reply)).toEqual([...ids(path), fifth.message.id]);

    // seq is the insertion order across every branch: 1..n without gaps, every message counted.
    const rows = await roomRows(c);
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
    expect(fifth.conversation.message_count).toBe(13);

    // Postgres, once the outbox settles, holds the same tree and the same head.
    const pgRows = await eventually(
      () =>
        pgQuery<Record<string, unknown>>(
          `select id, seq, role, status, content, parent_id, reply_to from conversation_messages
           where conversation_id = $1 order by seq`,
          [c],
        ),
      (x) => x.length === 13 && x.every((r) => r.status !== 'streaming'),
    );
    expect(pgRows).toEqual(rows);
    const [state] = await pgQuery<{ head_id: string; message_count: number }>(
      'select head_id, message_count from conversation_states where id = $1',
      [c],
    );
    expect(state).toEqual({ head_id: fifth.reply.id, message_count: 13 });
  }, 120_000);

  it('carries a switch of branch to Postgres with no send after it', async () => {
    const alice = client(uniqueUser('alice'));
    const first = await alice.send(undefined, '!dev words=2');
    const c = first.conversation.id;
    const again = await ok(regenerate(alice, c, first.reply.id));
    expect(again.reply.branch).toEqual({ index: 2, count: 2, previous_id: first.reply.id, next_id: null });
    expect((await switchTo(alice, c, first.reply.id)).status).toBe(200);
    const [state] = await eventually(
      () => pgQuery<{ head_id: string }>('select head_id from conversation_states where id = $1', [c]),
      (x) => x[0]?.head_id === first.reply.id,
    );
    expect(state?.head_id).toBe(first.reply.id);
  }, 60_000);

  it('answers a repeated edit or regenerate with what the first made, and refuses a reused id for another turn', async () => {
    const alice = client(uniqueUser('alice'));
    const first = await alice.send(undefined, '!dev words=2');
    const c = first.conversation.id;
    const second = await alice.send(c, '!dev words=3');

    const r1 = await ok(regenerate(alice, c, second.reply.id, 'regen-1'));
    const r2 = await ok(regenerate(alice, c, second.reply.id, 'regen-1'));
    expect(r2.reply.id).toBe(r1.reply.id);
    expect(r2.message.id).toBe(second.message.id);
    // Another sibling of the same user message is the same request: a new reply to it.
    const r3 = await ok(regenerate(alice, c, r1.reply.id, 'regen-1'));
    expect(r3.reply.id).toBe(r1.reply.id);
    expect(r3.conversation.message_count).toBe(5);

    const e1 = await ok(edit(alice, c, second.message.id, '!dev words=4', 'edit-1'));
    const e2 = await ok(edit(alice, c, second.message.id, '!dev words=4', 'edit-1'));
    expect([e2.message.id, e2.reply.id]).toEqual([e1.message.id, e1.reply.id]);
    expect(e2.conversation.message_count).toBe(7);

    expect(await errorOf(edit(alice, c, second.message.id, '!dev words=5', 'edit-1'))).toEqual({
      status: 409,
      code: 'idempotency_mismatch',
    });
    expect(await errorOf(regenerate(alice, c, first.reply.id, 'regen-1'))).toEqual({
      status: 409,
      code: 'idempotency_mismatch',
    });
    expect(await errorOf(regenerate(alice, c, e1.reply.id, 'edit-1'))).toEqual({
      status: 409,
      code: 'idempotency_mismatch',
    });
    const sendReused = alice.call('POST', '/messages', {
      body: { conversation_id: c, content: '!dev words=2', client_message_id: 'regen-1' },
    });
    expect(await errorOf(sendReused)).toEqual({ status: 409, code: 'idempotency_mismatch' });
    expect((await activeBranch(alice, c)).length).toBe(4);
  }, 60_000);

  it('refuses what cannot be branched from: unknown ids, the wrong role, a reply off the active branch', async () => {
    const alice = client(uniqueUser('alice'));
    const first = await alice.send(undefined, '!dev words=2');
    const c = first.conversation.id;
    const again = await ok(regenerate(alice, c, first.reply.id));
    const unknown = crypto.randomUUID();
    expect(await errorOf(regenerate(alice, c, unknown))).toEqual({ status: 404, code: 'not_found' });
    expect(await errorOf(regenerate(alice, c, first.message.id))).toEqual({ status: 400, code: 'invalid_request' });
    expect(await errorOf(regenerate(alice, c, first.reply.id))).toEqual({ status: 400, code: 'invalid_request' });
    expect(await errorOf(edit(alice, c, again.reply.id, 'hi'))).toEqual({ status: 400, code: 'invalid_request' });
    expect(await errorOf(edit(alice, c, unknown, 'hi'))).toEqual({ status: 404, code: 'not_found' });
    expect(await errorOf(switchTo(alice, c, unknown))).toEqual({ status: 404, code: 'not_found' });
    const noConversation = alice.call('POST', '/messages', { body: { content: 'hi', edit_of: first.message.id } });
    expect(await errorOf(noConversation)).toEqual({ status: 400, code: 'invalid_request' });
    const bob = client(uniqueUser('bob'));
    expect(await errorOf(regenerate(bob, c, again.reply.id))).toEqual({ status: 404, code: 'not_found' });
    expect(await errorOf(switchTo(bob, c, first.reply.id))).toEqual({ status: 404, code: 'not_found' });
  }, 60_000);

  it('refuses an edit, a regenerate and a switch with 409 while a reply streams, and lets them in after', async () => {
    const alice = client(uniqueUser('alice'));
    const first = await alice.send(undefined, '!dev words=2');
    const c = first.conversation.id;
    const streaming = await alice.sendStreaming(c, '!dev words=400 delay_ms=20');
    expect(streaming.status).toBe(200);
    const busy = { status: 409, code: 'reply_in_progress' };
    expect(await errorOf(regenerate(alice, c, first.reply.id))).toEqual(busy);
    expect(await errorOf(edit(alice, c, first.message.id, 'other'))).toEqual(busy);
    expect(await errorOf(switchTo(alice, c, first.reply.id))).toEqual(busy);
    expect((await alice.call('POST', `/conversations/${c}/stop`)).status).toBe(200);
    await allEvents(streaming);
    const branch = await activeBranch(alice, c);
    expect(branch).toHaveLength(4);
    expect(branch[3]?.status).toBe('stopped');
    expect((await ok(regenerate(alice, c, branch[3]?.id ?? ''))).reply.status).toBe('complete');
  }, 60_000);

  it('streams a regenerate over SSE as a send does', async () => {
    const alice = client(uniqueUser('alice'));
    const first = await alice.send(undefined, '!dev words=2');
    const c = first.conversation.id;
    const res = await alice.call('POST', `/conversations/${c}/regenerate`, {
      body: { message_id: first.reply.id },
      headers: { accept: 'text/event-stream' },
    });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const events = await allEvents(res);
    const start = JSON.parse(events[0]?.data ?? '{}') as { type: string; messageId: string };
    expect(start.type).toBe('start');
    expect(events.at(-1)?.data).toBe('[DONE]');
    const branch = await activeBranch(alice, c);
    expect(branch.map((m) => m.id)).toEqual([first.message.id, start.messageId]);
    expect(branch[1]).toMatchObject({ status: 'complete', branch: { index: 2, count: 2 } });
  }, 60_000);

  it('over WebSocket: one tab regenerates, edits and switches; the other follows every frame', async () => {
    const alice = client(uniqueUser('alice'));
    const first = await alice.send(undefined, '!dev words=2');
    const c = first.conversation.id;
    const a = await mustOpen(c, alice.userId);
    const b = await mustOpen(c, alice.userId);
    const framesOf = (s: TestSocket, from: number) => s.frames.slice(from);
    const ended = (id: string) => (f: ServerFrame[]) =>
      f.some((x) => x.type === 'message' && x.message.id === id && x.message.status !== 'streaming');

    let from = b.frames.length;
    a.send({ type: 'regenerate', message_id: first.reply.id, client_message_id: 'ws-regen' });
    const started = await b.until((f) => f.slice(from).some((x) => x.type === 'message'));
    const reply = started.slice(from).find((x) => x.type === 'message');
    if (reply?.type !== 'message') throw new Error('no message frame');
    expect(reply.message).toMatchObject({ parent_id: first.message.id, branch: { index: 2, count: 2 } });
    await b.until(ended(reply.message.id));
    const seen = framesOf(b, from);
    expect(seen.find((x) => x.type === 'head')).toEqual({ type: 'head', head_id: reply.message.id });
    const chunks = seen.filter((x) => x.type === 'chunk' && x.message_id === reply.message.id);
    expect(chunks.map((x) => (x.type === 'chunk' ? x.index : -1))).toEqual(chunks.map((_, i) => i));

    from = a.frames.length;
    b.send({ type: 'send', content: '!dev words=3', client_message_id: 'ws-edit', edit_of: first.message.id });
    const edited = await a.until((f) => f.slice(from).some((x) => x.type === 'head'));
    const head = edited.slice(from).find((x) => x.type === 'head');
    if (head?.type !== 'head') throw new Error('no head frame');
    await a.until(ended(head.head_id));

    from = a.frames.length;
    const fromB = b.frames.length;
    b.send({ type: 'switch', message_id: first.reply.id });
    const onA = await a.next('head', from);
    expect(onA.head_id).toBe(first.reply.id);
    expect((await b.next('head', fromB)).head_id).toBe(first.reply.id);

    // A tab that connects now is greeted with the active branch's head.
    const late = await mustOpen(c, alice.userId);
    const ready = late.frames.find((x) => x.type === 'ready');
    if (ready?.type !== 'ready') throw new Error('no ready frame');
    expect(ready.conversation.head_id).toBe(first.reply.id);
    expect(ready.last_seq).toBe(first.reply.seq);

    // Refusals come back as error frames to the asker only.
    from = a.frames.length;
    a.send({ type: 'switch', message_id: crypto.randomUUID() });
    expect(await a.next('error', from)).toMatchObject({ code: 'not_found' });
    for (const s of [a, b, late]) s.close();
  }, 60_000);

  it('goes on with a regenerate in flight after a restart: the same reply, still naming the one it replaces', async () => {
    const alice = client(uniqueUser('alice'));
    const first = await alice.send(undefined, '!dev words=200 delay_ms=5');
    const c = first.conversation.id;
    const res = await alice.call('POST', `/conversations/${c}/regenerate`, {
      body: { message_id: first.reply.id },
      headers: { accept: 'text/event-stream' },
    });
    const seen: string[] = [];
    for await (const e of sseEvents(res)) {
      seen.push(e.data);
      if (seen.length >= 12) break;
    }
    const messageId = (JSON.parse(seen[0] ?? '{}') as { messageId: string }).messageId;
    await keptAtLeast(c, messageId, seen.length);
    await abortAllDurableObjects();
    const ended = await eventually(
      () => activeBranch(alice, c),
      (m) => m[1]?.status !== 'streaming',
      30_000,
    );
    expect(ids(ended)).toEqual([first.message.id, messageId]);
    expect(ended[1]).toMatchObject({ status: 'complete', branch: { index: 2, count: 2 } });
    expect(ended[1]?.metadata.regenerate_of).toBe(first.reply.id);
    expect(ended[1]?.content.split(' ')).toHaveLength(200);
  }, 60_000);
});
