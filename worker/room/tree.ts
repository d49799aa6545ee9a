import type { Branch } from '../wire';

/**
 * The conversation as a tree in the room's storage (SPEC §9). Each message names its parent; the active branch is
 * kept as its own table, `path` (seq → id, root to head), so a page of history on it is an index range however many
 * branches the conversation has, and the head is simply its last entry. A child is always stored after its parent,
 * so seqs rise along any path: the part of the path up to a message is the entries with seq up to its own.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS path (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL
);
`;

/** Rooms that stored messages before branches gain the column on their next start; each is then one branch. */
const ADD_PARENT = 'ALTER TABLE messages ADD COLUMN parent_id TEXT';
const FILL_PARENT = `
UPDATE messages SET parent_id = CASE
  WHEN role = 'assistant' AND reply_to IS NOT NULL THEN reply_to
  ELSE (SELECT p.id FROM messages p WHERE p.seq < messages.seq ORDER BY p.seq DESC LIMIT 1)
END;
DELETE FROM path;
INSERT INTO path (seq, id) SELECT seq, id FROM messages;
`;
const SIBLINGS_INDEX = 'CREATE INDEX IF NOT EXISTS messages_siblings_idx ON messages (parent_id, role, seq)';

const str = (v: SqlStorageValue | undefined): string | null => (typeof v === 'string' ? v : null);

export class MessageTree {
  constructor(private readonly sql: SqlStorage) {
    this.sql.exec(SCHEMA);
    const columns = new Set(
      this.sql
        .exec('PRAGMA table_info(messages)')
        .toArray()
        .map((r) => String(r.name)),
    );
    if (!columns.has('parent_id')) {
      this.sql.exec(ADD_PARENT);
      this.sql.exec(FILL_PARENT);
    }
    this.sql.exec(SIBLINGS_INDEX);
  }

  /** The last message of the active branch, or null before the first message. */
  head(): string | null {
    return str(this.sql.exec('SELECT id FROM path ORDER BY seq DESC LIMIT 1').toArray()[0]?.id);
  }

  /** The seq of the head (the `ready` frame's last_seq), 0 before the first message. */
  headSeq(): number {
    return Number(this.sql.exec('SELECT coalesce(max(seq), 0) AS s FROM path').one().s);
  }

  /**
   * Whether a message is on the active branch: the path's entry at its seq is it. Two index lookups; `path` has no
   * index on id, and a lookup by id read the whole path, a row per message of the branch (bench/capacity.ts).
   */
  onPath(messageId: string): boolean {
    return (
      this.sql
        .exec('SELECT 1 FROM path p JOIN messages m ON p.seq = m.seq WHERE m.id = ? AND p.id = m.id', messageId)
        .toArray().length > 0
    );
  }

  /**
   * Grows the active branch from `parentId` (null: from the root) with messages just stored under it, in seq order:
   * a send (from the head), an edit (from the edited message's parent), a regenerate (from the user message).
   * Whatever the path held after the parent is another branch from now on.
   */
  growFrom(parentId: string | null, added: { id: string; seq: number }[]): void {
    if (parentId === null) {
      this.sql.exec('DELETE FROM path');
    } else if (this.onPath(parentId)) {
      this.sql.exec('DELETE FROM path WHERE seq > (SELECT seq FROM messages WHERE id = ?)', parentId);
    } else {
      this.rebuild(parentId);
    }
    for (const m of added) this.sql.exec('INSERT INTO path (seq, id) VALUES (?, ?)', m.seq, m.id);
  }

  /** Makes the active branch the one through `messageId`, following the newest child at each step; returns the head. */
  switchTo(messageId: string): string {
    const leaf = this.newestLeafBelow(messageId);
    this.rebuild(leaf);
    return leaf;
  }

  /** The newest leaf under a message: at each step its newest child (the highest seq). */
  newestLeafBelow(messageId: string): string {
    const row = this.sql
      .exec(
        `WITH RECURSIVE down(id, depth) AS (
           SELECT ?, 0
           UNION ALL
           SELECT (SELECT c.id FROM messages c WHERE c.parent_id = down.id ORDER BY c.seq DESC LIMIT 1), depth + 1
           FROM down WHERE down.id IS NOT NULL
         )
         SELECT id FROM down WHERE id IS NOT NULL ORDER BY depth DESC LIMIT 1`,
        messageId,
      )
      .toArray()[0];
    return str(row?.id) ?? messageId;
  }

  /** The path from the root to `headId`, written anew. */
  private rebuild(headId: string): void {
    this.sql.exec('DELETE FROM path');
    this.sql.exec(
      `INSERT INTO path (seq, id)
       WITH RECURSIVE up(id, parent_id, seq) AS (
         SELECT id, parent_id, seq FROM messages WHERE id = ?
         UNION ALL
         SELECT m.id, m.parent_id, m.seq FROM messages m JOIN up ON m.id = up.parent_id
       )
       SELECT seq, id FROM up`,
      headId,
    );
  }

  /**
   * A page of the active branch in ascending seq (SPEC §3 paging, the seqs being those on the path), and whether
   * more lie beyond it in the direction of paging.
   */
  page(q: { limit: number; before_seq?: number | undefined; after_seq?: number | undefined }): {
    ids: string[];
    has_more: boolean;
  } {
    const take = q.limit + 1;
    const rows =
      q.after_seq !== undefined
        ? this.sql.exec('SELECT id FROM path WHERE seq > ? ORDER BY seq ASC LIMIT ?', q.after_seq, take).toArray()
        : this.sql
            .exec(
              'SELECT id FROM path WHERE seq < ? ORDER BY seq DESC LIMIT ?',
              q.before_seq ?? Number.MAX_SAFE_INTEGER,
              take,
            )
            .toArray()
            .reverse();
    const has_more = rows.length > q.limit;
    const kept = has_more ? (q.after_seq !== undefined ? rows.slice(0, q.limit) : rows.slice(1)) : rows;
    return { ids: kept.map((r) => String(r.id)), has_more };
  }

  /** The last `limit` messages of the active branch up to `seq`, oldest first: the agent's history. */
  pathUpTo(seq: number, limit: number): string[] {
    return this.sql
      .exec('SELECT id FROM path WHERE seq <= ? ORDER BY seq DESC LIMIT ?', seq, limit)
      .toArray()
      .reverse()
      .map((r) => String(r.id));
  }

  /**
   * Each message's place among those sharing its parent and role, 1-based by seq (SPEC §9), and the ids of the
   * siblings either side of it, so a picker can switch to one that a page has not loaded.
   */
  branches(ids: string[]): Map<string, Branch> {
    const out = new Map<string, Branch>();
    const siblings = 's.parent_id IS m.parent_id AND s.role = m.role';
    for (const id of ids) {
      const row = this.sql
        .exec(
          `SELECT
             (SELECT count(*) FROM messages s WHERE ${siblings} AND s.seq <= m.seq) AS i,
             (SELECT count(*) FROM messages s WHERE ${siblings}) AS n,
             (SELECT s.id FROM messages s WHERE ${siblings} AND s.seq < m.seq ORDER BY s.seq DESC LIMIT 1) AS prev,
             (SELECT s.id FROM messages s WHERE ${siblings} AND s.seq > m.seq ORDER BY s.seq LIMIT 1) AS next
           FROM messages m WHERE m.id = ?`,
          id,
        )
        .toArray()[0];
      if (!row) continue;
      out.set(id, { index: Number(row.i), count: Number(row.n), previous_id: str(row.prev), next_id: str(row.next) });
    }
    return out;
  }

  /** Forgets the tree's own state (the messages themselves are the store's). */
  wipe(): void {
    this.sql.exec('DELETE FROM path');
  }
}
