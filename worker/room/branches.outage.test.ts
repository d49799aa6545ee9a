import { abortAllDurableObjects, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it } from 'vitest';
import { client, control, eventually, pgQuery, uniqueUser } from '../test-support';
import { HeadResult, SendResult } from '../wire';

type Row = Record<string, unknown>;

const pgRows = (conversationId: string) =>
  pgQuery<Row>(
    `select id, seq, role, status, content, parent_id, reply_to from conversation_messages
     where conversation_id = $1 order by seq`,
    [conversationId],
  );

/** Every message of every branch as the room stores them, by seq, and its head. */
function roomTree(conversationId: string) {
  const stub = env.ROOMS.get(env.ROOMS.idFromName(conversationId));
  return runInDurableObject(stub, (_room, state) => {
    const sql = state.storage.sql;
    const rows = sql
      .exec('SELECT id, seq, role, status, content, parent_id, reply_to FROM messages ORDER BY seq')
      .toArray()
      .map((r) => ({ ...r }));
    const head = sql.exec('SELECT id FROM path ORDER BY seq DESC LIMIT 1').toArray()[0]?.id ?? null;
    return { rows, head };
  });
}

describe('the tree reaches Postgres with the outbox’s no-loss rules (SPEC §2, §9)', () => {
  afterEach(async () => {
    await control('/postgres/start');
  });

  it('keeps edits, regenerates and switches made while Postgres is down, through a restart, and lands them all', async () => {
    const alice = client(uniqueUser('alice'));
    const first = await alice.send(undefined, '!dev words=2');
    const c = first.conversation.id;
    await eventually(
      () => pgRows(c),
      (x) => x.length === 2,
    );
    await control('/postgres/stop');
    const second = await alice.send(c, '!dev words=3');
    const regen = await alice.call('POST', `/conversations/${c}/regenerate`, {
      body: { message_id: second.reply.id },
    });
    expect(regen.status).toBe(200);
    const again = SendResult.parse(await regen.json());
    const edit = await alice.call('POST', '/messages', {
      body: { conversation_id: c, content: '!dev words=4', edit_of: second.message.id },
    });
    expect(edit.status).toBe(200);
    const switched = await alice.call('POST', `/conversations/${c}/head`, { body: { message_id: again.reply.id } });
    expect(HeadResult.parse(await switched.json()).head_id).toBe(again.reply.id);
    // The room is evicted with its outbox full; only its storage (and its alarm) survive.
    await abortAllDurableObjects();
    await control('/postgres/start');

    const room = await roomTree(c);
    expect(room.rows.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(room.head).toBe(again.reply.id);
    const rows = await eventually(
      () => pgRows(c).catch(() => [] as Row[]),
      (x) => x.length === 7,
      30_000,
    );
    expect(rows).toEqual(room.rows);
    const state = await eventually(
      () =>
        pgQuery<{ head_id: string; message_count: number }>(
          'select head_id, message_count from conversation_states where id = $1',
          [c],
        ),
      (x) => x[0]?.head_id === room.head,
      30_000,
    );
    expect(state[0]).toEqual({ head_id: room.head, message_count: 7 });
  }, 120_000);
});
