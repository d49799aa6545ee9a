import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { MessageTree } from './tree';

/** Runs `fn` on the storage of a fresh room (its own tables made, no conversation in it). */
function inFreshRoom<T>(fn: (sql: SqlStorage) => T): Promise<T> {
  const stub = env.ROOMS.get(env.ROOMS.idFromName(crypto.randomUUID()));
  return runInDurableObject(stub, (_room, state) => fn(state.storage.sql));
}

let seq = 0;
function store(sql: SqlStorage, role: 'user' | 'assistant', parentId: string | null | undefined, replyTo = null) {
  const id = `${role[0]}-${++seq}`;
  const columns = parentId === undefined ? '' : ', parent_id';
  sql.exec(
    `INSERT INTO messages (id, seq, role, content, parts, status, reply_to, client_message_id, metadata, created_at${columns})
     VALUES (?, (SELECT coalesce(max(seq), 0) + 1 FROM messages), ?, 'x', '[]', 'complete', ?, NULL, '{}', ''${parentId === undefined ? '' : ', ?'})`,
    id,
    role,
    replyTo,
    ...(parentId === undefined ? [] : [parentId]),
  );
  const stored = Number(sql.exec('SELECT seq FROM messages WHERE id = ?', id).one().seq);
  return { id, seq: stored };
}

const onPath = (tree: MessageTree) => tree.page({ limit: 200 }).ids;

describe('the conversation tree in the room (SPEC §9)', () => {
  it('makes a room that stored messages before branches one branch: each follows the one before, the head last', () =>
    inFreshRoom((sql) => {
      sql.exec('DELETE FROM messages');
      const hasParent = sql
        .exec('PRAGMA table_info(messages)')
        .toArray()
        .some((r) => r.name === 'parent_id');
      // The room made the column and its index on start; a room from before branches had neither.
      if (hasParent) sql.exec('DROP INDEX IF EXISTS messages_siblings_idx; ALTER TABLE messages DROP COLUMN parent_id');
      const u1 = store(sql, 'user', undefined);
      const a1 = store(sql, 'assistant', undefined);
      const u2 = store(sql, 'user', undefined);
      const tree = new MessageTree(sql);
      const parents = sql
        .exec('SELECT parent_id FROM messages ORDER BY seq')
        .toArray()
        .map((r) => r.parent_id);
      expect(parents).toEqual([null, u1.id, a1.id]);
      expect(onPath(tree)).toEqual([u1.id, a1.id, u2.id]);
      expect(tree.head()).toBe(u2.id);
    }));

  it('branches by regenerate and by edit, switches back and forth, and numbers siblings by seq', () =>
    inFreshRoom((sql) => {
      const tree = new MessageTree(sql);
      const u1 = store(sql, 'user', null);
      const a1 = store(sql, 'assistant', u1.id);
      tree.growFrom(null, [u1, a1]);
      const u2 = store(sql, 'user', a1.id);
      const a2 = store(sql, 'assistant', u2.id);
      tree.growFrom(a1.id, [u2, a2]);
      expect(onPath(tree)).toEqual([u1.id, a1.id, u2.id, a2.id]);

      // Regenerate: a second reply to u2 becomes the head.
      const a2b = store(sql, 'assistant', u2.id);
      tree.growFrom(u2.id, [a2b]);
      expect(onPath(tree)).toEqual([u1.id, a1.id, u2.id, a2b.id]);
      expect(tree.head()).toBe(a2b.id);

      // Edit: a user message beside u2, and its reply, become the active branch.
      const u2b = store(sql, 'user', a1.id);
      const a2c = store(sql, 'assistant', u2b.id);
      tree.growFrom(a1.id, [u2b, a2c]);
      expect(onPath(tree)).toEqual([u1.id, a1.id, u2b.id, a2c.id]);
      expect(Object.fromEntries(tree.branches([u2.id, u2b.id, a2.id, a2b.id, a2c.id, u1.id]))).toEqual({
        [u2.id]: { index: 1, count: 2, previous_id: null, next_id: u2b.id },
        [u2b.id]: { index: 2, count: 2, previous_id: u2.id, next_id: null },
        [a2.id]: { index: 1, count: 2, previous_id: null, next_id: a2b.id },
        [a2b.id]: { index: 2, count: 2, previous_id: a2.id, next_id: null },
        [a2c.id]: { index: 1, count: 1, previous_id: null, next_id: null },
        [u1.id]: { index: 1, count: 1, previous_id: null, next_id: null },
      });

      // Switching to u2 follows its newest child; to a2, that reply itself.
      expect(tree.switchTo(u2.id)).toBe(a2b.id);
      expect(onPath(tree)).toEqual([u1.id, a1.id, u2.id, a2b.id]);
      expect(tree.switchTo(a2.id)).toBe(a2.id);
      expect(onPath(tree)).toEqual([u1.id, a1.id, u2.id, a2.id]);
      expect(tree.headSeq()).toBe(a2.seq);

      // Editing the first message starts a branch from the root.
      const u1b = store(sql, 'user', null);
      tree.growFrom(null, [u1b]);
      expect(onPath(tree)).toEqual([u1b.id]);
      expect(tree.branches([u1b.id]).get(u1b.id)).toEqual({ index: 2, count: 2, previous_id: u1.id, next_id: null });
      // Back to the first u1: at each step the newest child, so the edit's branch, not the one last shown.
      expect(tree.switchTo(u1.id)).toBe(a2c.id);
    }));

  it('pages the active branch by its own seqs, and gives the agent the path up to a message', () =>
    inFreshRoom((sql) => {
      const tree = new MessageTree(sql);
      let parent: string | null = null;
      const main: { id: string; seq: number }[] = [];
      for (let i = 0; i < 6; i++) {
        const m = store(sql, i % 2 === 0 ? 'user' : 'assistant', parent);
        tree.growFrom(parent, [m]);
        main.push(m);
        // Every reply is regenerated once: the path skips the seqs of the first replies.
        if (i % 2 === 1) {
          const again = store(sql, 'assistant', main[i - 1]?.id ?? null);
          tree.growFrom(main[i - 1]?.id ?? null, [again]);
          main[i] = again;
        }
        parent = main[i]?.id ?? null;
      }
      const ids = main.map((m) => m.id);
      const seqs = main.map((m) => m.seq);
      expect(tree.page({ limit: 2 })).toEqual({ ids: ids.slice(4), has_more: true });
      expect(tree.page({ limit: 2, before_seq: seqs[4] })).toEqual({ ids: ids.slice(2, 4), has_more: true });
      expect(tree.page({ limit: 2, before_seq: seqs[2] })).toEqual({ ids: ids.slice(0, 2), has_more: false });
      expect(tree.page({ limit: 3, after_seq: seqs[1] })).toEqual({ ids: ids.slice(2, 5), has_more: true });
      expect(tree.pathUpTo(seqs[4] ?? 0, 3)).toEqual(ids.slice(2, 5));
    }));

  it('tells whether a message is on the active branch by a few rows, however long the branch', () =>
    inFreshRoom((sql) => {
      let read = 0;
      // Counts the rows each statement reads (what Cloudflare bills), as the capacity bench's meter does.
      const counted = new Proxy(sql, {
        get(target, prop) {
          if (prop !== 'exec') return Reflect.get(target, prop, target);
          return (query: string, ...bindings: SqlStorageValue[]) => {
            const cursor = target.exec(query, ...bindings);
            const rows = cursor.toArray();
            read += cursor.rowsRead;
            return { toArray: () => rows, one: () => rows[0] };
          };
        },
      });
      const tree = new MessageTree(counted);
      let parent: string | null = null;
      const branch: { id: string; seq: number }[] = [];
      for (let i = 0; i < 200; i++) {
        const m = store(sql, i % 2 === 0 ? 'user' : 'assistant', parent);
        tree.growFrom(parent, [m]);
        branch.push(m);
        parent = m.id;
      }
      // A second reply to the first user message: stored, not on the path.
      const aside = store(sql, 'assistant', branch[0]?.id ?? null);
      const readBy = (id: string) => {
        read = 0;
        const on = tree.onPath(id);
        return { on, read };
      };
      for (const [id, on] of [
        [branch[199]?.id, true],
        [branch[100]?.id, true],
        [aside.id, false],
        ['no-such-message', false],
      ] as const) {
        const r = readBy(id ?? '');
        expect(r.on).toBe(on);
        // A lookup by id on `path`, which has no index on it, read every entry: 200 here.
        expect(r.read).toBeLessThanOrEqual(4);
      }
    }));
});
