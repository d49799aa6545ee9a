import { abortAllDurableObjects } from 'cloudflare:test';
import { afterEach, describe, expect, it } from 'vitest';
import { allEvents, client, control, eventually, pgQuery, uniqueUser } from '../test-support';
import { ConversationList, ErrorEnvelope } from '../wire';

interface Row {
  seq: number;
  role: string;
  status: string;
  content: string;
}

const rowsOf = (conversationId: string) =>
  pgQuery<Row>('select seq, role, status, content from conversation_messages where conversation_id = $1 order by seq', [
    conversationId,
  ]);

describe('outbox to Postgres', () => {
  afterEach(async () => {
    await control('/postgres/resume');
    await control('/postgres/start');
  });

  it('writes the conversation and both messages once the reply ends', async () => {
    const alice = client(uniqueUser('alice'));
    const r = await alice.send(undefined, '!dev words=3');
    const rows = await eventually(
      () => rowsOf(r.conversation.id),
      (x) => x.length === 2 && x[1]?.status === 'complete',
    );
    expect(rows.map((x) => [x.seq, x.role, x.status])).toEqual([
      [1, 'user', 'complete'],
      [2, 'assistant', 'complete'],
    ]);
    expect(rows[1]?.content).toBe(r.reply.content);
    const [state] = await pgQuery<{ message_count: number; title: string; user_id: string }>(
      'select message_count, title, user_id from conversation_states where id = $1',
      [r.conversation.id],
    );
    expect(state).toEqual({ message_count: 2, title: r.conversation.title, user_id: alice.userId });
  });

  it('keeps the chat working while Postgres is down and loses, reorders and duplicates nothing', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    await eventually(
      () => pgQuery('select 1 from conversation_states where id = $1', [c.id]),
      (x) => x.length === 1,
    );
    await control('/postgres/stop');
    const listed = await alice.call('GET', '/conversations');
    expect(listed.status).toBe(503);
    expect(ErrorEnvelope.parse(await listed.json()).error.code).toBe('unavailable');

    for (let i = 0; i < 20; i++) {
      const r = await alice.send(c.id, `!dev words=2\nmessage ${i}`);
      expect(r.reply.status).toBe('complete');
      expect(r.message.seq).toBe(2 * i + 1);
    }
    const page = await alice.history(c.id, '?limit=200');
    expect(page.messages).toHaveLength(40);

    await control('/postgres/start');
    const rows = await eventually(
      () => rowsOf(c.id).catch(() => [] as Row[]),
      (x) => x.length === 40,
      30_000,
    );
    expect(rows.map((x) => x.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(rows.filter((x) => x.role === 'user').map((x) => x.content)).toEqual(
      Array.from({ length: 20 }, (_, i) => `!dev words=2\nmessage ${i}`),
    );
    expect(rows.every((x) => x.status === 'complete')).toBe(true);
    const [state] = await pgQuery<{ message_count: number }>(
      'select message_count from conversation_states where id = $1',
      [c.id],
    );
    expect(state?.message_count).toBe(40);
    const list = ConversationList.parse(await alice.json('GET', '/conversations'));
    expect(list.conversations[0]?.message_count).toBe(40);
  });

  it('keeps rows still owed to Postgres through a room restart, and flushes them with no client asking', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    await eventually(
      () => pgQuery('select 1 from conversation_states where id = $1', [c.id]),
      (x) => x.length === 1,
    );
    await control('/postgres/stop');
    for (let i = 0; i < 5; i++) await alice.send(c.id, `!dev words=2\npending ${i}`);
    // The room is evicted with its outbox full; only its storage (and its alarm) survive.
    await abortAllDurableObjects();
    await control('/postgres/start');
    const rows = await eventually(
      () => rowsOf(c.id).catch(() => [] as Row[]),
      (x) => x.length === 10,
      30_000,
    );
    expect(rows.map((x) => x.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    expect(rows.filter((x) => x.role === 'user').map((x) => x.content)).toEqual(
      Array.from({ length: 5 }, (_, i) => `!dev words=2\npending ${i}`),
    );
    expect(rows.every((x) => x.status === 'complete')).toBe(true);
  });

  it('answers a create and a delete within about a second while Postgres hangs; both land once it answers', async () => {
    const alice = client(uniqueUser('alice'));
    const doomed = await alice.createConversation();
    await eventually(
      () => pgQuery('select 1 from conversation_states where id = $1', [doomed.id]),
      (x) => x.length === 1,
    );
    await control('/postgres/pause');
    // Waiting for the flush, these took the driver's connect timeout (3 s) or the attempt bound (10 s).
    let started = Date.now();
    const c = await alice.createConversation();
    expect(Date.now() - started).toBeLessThan(2_500);
    started = Date.now();
    expect((await alice.call('DELETE', `/conversations/${doomed.id}`)).status).toBe(204);
    expect(Date.now() - started).toBeLessThan(2_500);
    expect((await alice.call('GET', `/conversations/${c.id}`)).status).toBe(200);
    await control('/postgres/resume');
    const landed = await eventually(
      () => pgQuery<{ id: string }>('select id from conversation_states where id = any($1)', [[c.id, doomed.id]]),
      (x) => x.length === 1 && x[0]?.id === c.id,
      30_000,
    );
    expect(landed.map((x) => x.id)).toEqual([c.id]);
  });

  it('stops a reply in flight when its conversation is deleted, and leaves nothing behind', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const res = await alice.sendStreaming(c.id, '!dev words=300 delay_ms=20');
    expect(res.status).toBe(200);
    let deleting: Promise<Response> | undefined;
    const streamed = allEvents(res, (e) => {
      if (e.data.includes('"text-delta"')) deleting ??= alice.call('DELETE', `/conversations/${c.id}`);
    });
    const events = await streamed;
    expect((await deleting)?.status).toBe(204);
    // The stream ends, as a stopped reply's does, instead of running on for its 300 words.
    const types = events.map((e) => (e.data === '[DONE]' ? '[DONE]' : (JSON.parse(e.data) as { type: string }).type));
    expect(types.slice(-2)).toEqual(['abort', '[DONE]']);
    expect(types.filter((t) => t === 'text-delta').length).toBeLessThan(300);
    expect((await alice.call('GET', `/conversations/${c.id}/messages`)).status).toBe(404);
    expect((await alice.call('GET', `/conversations/${c.id}/stream`)).status).toBe(404);
    const left = await eventually(
      () => pgQuery('select id from conversation_states where id = $1', [c.id]),
      (x) => x.length === 0,
    );
    expect(left).toEqual([]);
    expect(await rowsOf(c.id)).toEqual([]);
  });

  it('deletes the rows with the conversation, and a delete during an outage lands later', async () => {
    const alice = client(uniqueUser('alice'));
    const r = await alice.send(undefined, '!dev words=2');
    const id = r.conversation.id;
    await eventually(
      () => rowsOf(id),
      (x) => x.length === 2,
    );
    await control('/postgres/stop');
    expect((await alice.call('DELETE', `/conversations/${id}`)).status).toBe(204);
    expect((await alice.call('GET', `/conversations/${id}`)).status).toBe(404);
    await control('/postgres/start');
    const left = await eventually(
      () => pgQuery('select id from conversation_states where id = $1', [id]).catch(() => [{}]),
      (x) => x.length === 0,
      30_000,
    );
    expect(left).toEqual([]);
    expect(await rowsOf(id)).toEqual([]);
  });
});
