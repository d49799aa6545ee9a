import { abortAllDurableObjects } from 'cloudflare:test';
import { afterEach, describe, expect, it } from 'vitest';
import { client, control, eventually, mustOpen, openSocket, pgQuery, TestSocket, uniqueUser } from '../test-support';
import { ConversationList, WsTicket } from '../wire';

const rowsOf = (conversationId: string) =>
  pgQuery<{ seq: number; content: string }>(
    'select seq, content from conversation_messages where conversation_id = $1 order by seq',
    [conversationId],
  );

const stateOf = (conversationId: string) =>
  pgQuery<{ id: string }>('select id from conversation_states where id = $1', [conversationId]);

describe('deleting a conversation', () => {
  afterEach(async () => {
    await control('/postgres/start');
  });

  it('tells every open socket, on every tab and however it was opened, `deleted` and closes it with 4404', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const sockets: TestSocket[] = [];
    for (let i = 0; i < 3; i++) sockets.push(await mustOpen(c.id, alice.userId));
    for (let i = 0; i < 2; i++) {
      const { ticket } = WsTicket.parse(await alice.json('POST', '/ws-ticket', { body: { conversation_id: c.id } }));
      const s = await openSocket(c.id, { ticket });
      if (!(s instanceof TestSocket)) throw new Error(`ticket refused: ${s.status}`);
      await s.next('ready');
      sockets.push(s);
    }
    // A reply streams to all of them when the delete comes.
    const sending = alice.sendStreaming(c.id, '!dev words=400 delay_ms=20');
    for (const s of sockets) await s.until((fs) => fs.filter((f) => f.type === 'chunk').length >= 3);
    expect((await alice.call('DELETE', `/conversations/${c.id}`)).status).toBe(204);
    for (const s of sockets) {
      const closed = await s.closedWith(10_000);
      expect(closed.code).toBe(4404);
      expect(s.frames.at(-1)?.type).toBe('deleted');
    }
    await (await sending).body?.cancel();
  });

  it('carries out a Postgres delete that was owed when the room restarted, with no request to wake it', async () => {
    const alice = client(uniqueUser('alice'));
    const r = await alice.send(undefined, '!dev words=2');
    const id = r.conversation.id;
    await eventually(
      () => rowsOf(id),
      (x) => x.length === 2,
    );
    await control('/postgres/stop');
    expect((await alice.call('DELETE', `/conversations/${id}`)).status).toBe(204);
    // Every room restarts while Postgres still owes the delete.
    await abortAllDurableObjects();
    await control('/postgres/start');
    const left = await eventually(
      () => stateOf(id).catch(() => [{ id }]),
      (x) => x.length === 0,
      30_000,
    );
    expect(left).toEqual([]);
    expect(await rowsOf(id)).toEqual([]);
  });

  it('writes a conversation made again under the same id (same user and client_message_id) after the delete it waited behind', async () => {
    const alice = client(uniqueUser('alice'));
    const first = await alice.send(undefined, '!dev echo\nbefore the delete', 'retried-first-send');
    const id = first.conversation.id;
    await eventually(
      () => rowsOf(id),
      (x) => x.length === 2,
    );
    await control('/postgres/stop');
    expect((await alice.call('DELETE', `/conversations/${id}`)).status).toBe(204);
    // The same first send again derives the same conversation id while Postgres still owes the delete of the old one.
    const again = await alice.send(undefined, '!dev echo\nafter the delete', 'retried-first-send');
    expect(again.conversation.id).toBe(id);
    expect(again.message.seq).toBe(1);
    await control('/postgres/start');
    // The order: the old rows go first, then the new ones are written; the new ones are never wiped.
    const rows = await eventually(
      () => rowsOf(id).catch(() => []),
      (x) => x.length === 2 && x[0]?.content === '!dev echo\nafter the delete',
      30_000,
    );
    expect(rows.map((x) => x.content)).toEqual(['!dev echo\nafter the delete', 'after the delete']);
    const next = await alice.send(id, '!dev words=2');
    expect(next.message.seq).toBe(3);
    const settled = await eventually(
      () => rowsOf(id),
      (x) => x.length === 4,
    );
    expect(settled.map((x) => x.seq)).toEqual([1, 2, 3, 4]);
    const list = ConversationList.parse(await alice.json('GET', '/conversations'));
    expect(list.conversations.map((c) => c.id)).toEqual([id]);
  });
});
