import { env } from 'cloudflare:workers';
import { eq, sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import journal from '../../drizzle/meta/_journal.json';
import { loadConfig } from '../config';
import { control } from '../test-support';
import { checkPostgres, type Database, db, sqlQuery } from './client';
import { conversationMessages, conversationStates } from './schema';

/** The Postgres error code (e.g. 23505) under drizzle's DrizzleQueryError wrapper. */
async function pgError(promise: Promise<unknown>): Promise<{ code?: string; constraint?: string }> {
  try {
    await promise;
  } catch (err) {
    let e: unknown = err;
    while (e instanceof Error && !('code' in e) && e.cause) e = e.cause;
    return e as { code?: string; constraint?: string };
  }
  throw new Error('expected the statement to fail');
}

describe('drizzle migrations on a fresh database', () => {
  let database: string;
  let config: ReturnType<typeof loadConfig>;
  let orm: Database;
  const query = (text: string) => sqlQuery(config, text);

  const tables = async () =>
    (await query("select table_name from information_schema.tables where table_schema = 'public' order by 1")).map(
      (r) => r.table_name,
    );

  beforeAll(async () => {
    const fresh = await control<{ database: string; url: string }>('/postgres/databases');
    database = fresh.database;
    config = loadConfig({ ...env, DATABASE_URL: fresh.url });
    orm = db(config);
  });

  it('creates the tables, records itself and is idempotent', async () => {
    expect(await tables()).toEqual([]);
    await control(`/postgres/migrate?database=${database}`);
    expect(await tables()).toEqual([
      'conversation_messages',
      'conversation_shares',
      'conversation_states',
      'message_feedback',
    ]);
    await control(`/postgres/migrate?database=${database}`);
    const applied = await query('select hash from drizzle.__drizzle_migrations');
    expect(applied.length).toBe(journal.entries.length);
  });

  it('has the (user_id, last_message_at desc) index', async () => {
    const rows = await query(
      "select indexdef from pg_indexes where tablename = 'conversation_states' and indexname = 'conversation_states_user_last_message_idx'",
    );
    expect(rows[0]?.indexdef).toMatch(/\(user_id, last_message_at DESC/);
  });

  describe('constraints', () => {
    const conversationId = crypto.randomUUID();
    const message = (seq: number, clientMessageId: string | null = null) => ({
      id: crypto.randomUUID(),
      conversationId,
      userId: 'user-1',
      seq,
      role: 'user' as const,
      content: `message ${seq}`,
      status: 'complete' as const,
      clientMessageId,
    });

    beforeAll(async () => {
      await orm.insert(conversationStates).values({
        id: conversationId,
        userId: 'user-1',
        title: 'New chat',
        lastMessageAt: new Date().toISOString(),
      });
      await orm.insert(conversationMessages).values([message(1, 'c-1'), message(2, null), message(3, null)]);
    });

    it('rejects a duplicate (conversation_id, seq)', async () => {
      const err = await pgError(orm.insert(conversationMessages).values(message(1, 'c-other')));
      expect(err).toMatchObject({ code: '23505', constraint: 'conversation_messages_conversation_seq_key' });
    });

    it('rejects a duplicate (conversation_id, client_message_id) but allows many without one', async () => {
      const err = await pgError(orm.insert(conversationMessages).values(message(4, 'c-1')));
      expect(err).toMatchObject({
        code: '23505',
        constraint: 'conversation_messages_conversation_client_message_id_key',
      });
      const nulls = await orm
        .select({ n: sql<number>`count(*)::int` })
        .from(conversationMessages)
        .where(sql`${conversationMessages.clientMessageId} is null`);
      expect(nulls[0]?.n).toBe(2);
    });

    it('rejects seq < 1, an unknown role and a message without its conversation', async () => {
      expect(await pgError(orm.insert(conversationMessages).values(message(0)))).toMatchObject({ code: '23514' });
      const badRole = { ...message(9), role: 'system' as 'user' };
      expect(await pgError(orm.insert(conversationMessages).values(badRole))).toMatchObject({ code: '23514' });
      const orphan = { ...message(1), conversationId: crypto.randomUUID() };
      expect(await pgError(orm.insert(conversationMessages).values(orphan))).toMatchObject({ code: '23503' });
    });

    it('deletes the messages with their conversation', async () => {
      await orm.delete(conversationStates).where(eq(conversationStates.id, conversationId));
      const left = await orm
        .select({ n: sql<number>`count(*)::int` })
        .from(conversationMessages)
        .where(eq(conversationMessages.conversationId, conversationId));
      expect(left[0]?.n).toBe(0);
    });
  });
});

describe('0002_branches on a database that has conversations', () => {
  let config: ReturnType<typeof loadConfig>;
  const query = <T>(text: string, params: unknown[] = []) =>
    sqlQuery<T>(config, text, params).then((rows) => ({ rows, rowCount: rows.length }));
  const flat = crypto.randomUUID();
  const empty = crypto.randomUUID();
  const ids = Array.from({ length: 5 }, () => crypto.randomUUID());

  beforeAll(async () => {
    const fresh = await control<{ database: string; url: string }>('/postgres/databases');
    config = loadConfig({ ...env, DATABASE_URL: fresh.url });
    await control(`/postgres/migrate?database=${fresh.database}&upto=0001_pin_archive`);
    await query(
      `insert into conversation_states (id, user_id, title, last_message_at, message_count)
       values ($1, 'u', 'flat', now(), 5), ($2, 'u', 'empty', now(), 0)`,
      [flat, empty],
    );
    // Two answered sends and a third whose reply never came (a user message last).
    const rows = ids.map((id, i) => {
      const role = i % 2 === 0 ? 'user' : 'assistant';
      const replyTo = role === 'assistant' ? ids[i - 1] : null;
      return query(
        `insert into conversation_messages (id, conversation_id, seq, role, content, status, reply_to)
         values ($1, $2, $3, $4, 'x', 'complete', $5)`,
        [id, flat, i + 1, role, replyTo],
      );
    });
    await Promise.all(rows);
    await control(`/postgres/migrate?database=${fresh.database}`);
  });

  it('makes each conversation one branch: every message follows the one before it, the first none', async () => {
    const { rows } = await query<{ id: string; parent_id: string | null }>(
      'select id, parent_id from conversation_messages where conversation_id = $1 order by seq',
      [flat],
    );
    expect(rows.map((r) => r.parent_id)).toEqual([null, ...ids.slice(0, -1)]);
  });

  it('points each head at its last message, and leaves an empty conversation without one', async () => {
    const { rows } = await query<{ id: string; head_id: string | null }>(
      'select id, head_id from conversation_states where id = any($1)',
      [[flat, empty]],
    );
    const heads = Object.fromEntries(rows.map((r) => [r.id, r.head_id]));
    expect(heads).toEqual({ [flat]: ids[4], [empty]: null });
  });

  it('adds message_feedback, which goes with its message', async () => {
    await query(
      `insert into message_feedback (message_id, conversation_id, user_id, rating) values ($1, $2, 'u', 'up')`,
      [ids[1], flat],
    );
    await expect(
      query(`insert into message_feedback (message_id, conversation_id, user_id, rating) values ($1, $2, 'u', 'meh')`, [
        ids[3],
        flat,
      ]),
    ).rejects.toMatchObject({ code: '23514' });
    await query('delete from conversation_messages where id = $1', [ids[1]]);
    const left = await query('select 1 from message_feedback where message_id = $1', [ids[1]]);
    expect(left.rowCount).toBe(0);
  });
});

describe('0005_search_by_user on a database that has conversations', () => {
  let config: ReturnType<typeof loadConfig>;
  const query = <T>(text: string, params: unknown[] = []) => sqlQuery<T>(config, text, params);
  const conversations = { ann: crypto.randomUUID(), bob: crypto.randomUUID() };

  beforeAll(async () => {
    const fresh = await control<{ database: string; url: string }>('/postgres/databases');
    config = loadConfig({ ...env, DATABASE_URL: fresh.url });
    await control(`/postgres/migrate?database=${fresh.database}&upto=0004_shares`);
    for (const [user, id] of Object.entries(conversations)) {
      await query(
        `insert into conversation_states (id, user_id, title, last_message_at, message_count)
         values ($1, $2, 'old', now(), 2)`,
        [id, user],
      );
      await query(
        `insert into conversation_messages (id, conversation_id, seq, role, content, status)
         values ($1, $3, 1, 'user', 'the lighthouse keeper', 'complete'),
                ($2, $3, 2, 'assistant', 'a lighthouse', 'complete')`,
        [crypto.randomUUID(), crypto.randomUUID(), id],
      );
    }
    await control(`/postgres/migrate?database=${fresh.database}`);
  });

  it("gives each existing message its conversation's owner, and makes the owner required", async () => {
    const rows = await query<{ conversation_id: string; user_id: string }>(
      'select conversation_id, user_id from conversation_messages order by user_id, seq',
    );
    expect(rows).toEqual([
      { conversation_id: conversations.ann, user_id: 'ann' },
      { conversation_id: conversations.ann, user_id: 'ann' },
      { conversation_id: conversations.bob, user_id: 'bob' },
      { conversation_id: conversations.bob, user_id: 'bob' },
    ]);
    await expect(
      query(
        `insert into conversation_messages (id, conversation_id, seq, role, content, status)
         values ($1, $2, 3, 'user', 'x', 'complete')`,
        [crypto.randomUUID(), conversations.ann],
      ),
    ).rejects.toMatchObject({ code: '23502' });
  });

  it('replaces the words-only GIN index with one over (user_id, search_vector)', async () => {
    const indexes = await query<{ indexname: string; indexdef: string }>(
      "select indexname, indexdef from pg_indexes where tablename = 'conversation_messages' and indexdef like '%gin%'",
    );
    expect(indexes).toEqual([
      {
        indexname: 'conversation_messages_user_search_idx',
        indexdef: expect.stringMatching(/USING gin \(user_id, search_vector\)$/),
      },
    ]);
  });
});

describe('checkPostgres', () => {
  it('is true for the test database and false for a port nobody listens on', async () => {
    const config = loadConfig(env);
    expect(await checkPostgres(config)).toBe(true);
    const nowhere = loadConfig({ ...env, DATABASE_URL: 'postgres://postgres:postgres@127.0.0.1:1/agentchat' });
    expect(await checkPostgres(nowhere)).toBe(false);
  });
});
