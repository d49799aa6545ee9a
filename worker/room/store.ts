import type { Conversation, Message, MessagePart } from '../wire';
import { ApprovalBook } from './approvals';
import { type FeedbackRow, MessageFeedback } from './feedback';
import type { Bucket } from './rate-limit';
import { MessageTree } from './tree';

/**
 * The room's own SQLite storage: the conversation, its messages, the outbox towards Postgres, the WebSocket
 * tickets and the room's notes. Everything is committed here first. (The chunks of the reply in flight are kept
 * by its ReplyStream.)
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS conversation (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  title TEXT NOT NULL,
  title_source TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  last_message_at TEXT NOT NULL,
  message_count INTEGER NOT NULL,
  metadata TEXT NOT NULL,
  pinned INTEGER NOT NULL DEFAULT 0,
  archived INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS messages (
  id TEXT PRIMARY KEY,
  seq INTEGER NOT NULL UNIQUE,
  role TEXT NOT NULL,
  content TEXT NOT NULL,
  parts TEXT NOT NULL,
  status TEXT NOT NULL,
  reply_to TEXT,
  client_message_id TEXT UNIQUE,
  metadata TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id TEXT
);
CREATE TABLE IF NOT EXISTS tickets (
  ticket TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
`;

export type TitleSource = 'default' | 'auto' | 'user';

export interface ConversationRecord {
  id: string;
  userId: string;
  title: string;
  titleSource: TitleSource;
  createdAt: string;
  updatedAt: string;
  lastMessageAt: string;
  messageCount: number;
  metadata: Record<string, unknown>;
  pinned: boolean;
  archived: boolean;
}

type Row = Record<string, SqlStorageValue>;

/** The key/value notes; each is read and written only through the typed methods below. */
type NoteKey = 'deleted' | 'pg_delete' | 'bucket' | 'share';

/** The conversation's live share link (SPEC §10). */
export interface ShareRecord {
  id: string;
  createdAt: string;
}

const str = (v: SqlStorageValue | undefined): string => (typeof v === 'string' ? v : String(v ?? ''));
const num = (v: SqlStorageValue | undefined): number => Number(v ?? 0);
const json = <T>(v: SqlStorageValue | undefined, fallback: T): T =>
  typeof v === 'string' ? (JSON.parse(v) as T) : fallback;

function toConversation(r: Row): ConversationRecord {
  return {
    id: str(r.id),
    userId: str(r.user_id),
    title: str(r.title),
    titleSource: str(r.title_source) as TitleSource,
    createdAt: str(r.created_at),
    updatedAt: str(r.updated_at),
    lastMessageAt: str(r.last_message_at),
    messageCount: num(r.message_count),
    metadata: json(r.metadata, {}),
    pinned: num(r.pinned) === 1,
    archived: num(r.archived) === 1,
  };
}

/** Columns added after rooms first stored conversations: a room made before them gains them on its next start. */
const ADDED_COLUMNS = {
  pinned: 'ALTER TABLE conversation ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0',
  archived: 'ALTER TABLE conversation ADD COLUMN archived INTEGER NOT NULL DEFAULT 0',
};
/** The expiry of the token that asked for a ticket: a socket opened with it lives until then (SPEC §4). */
const ADD_TICKET_TOKEN_EXPIRY = 'ALTER TABLE tickets ADD COLUMN token_expires_at INTEGER NOT NULL DEFAULT 0';

/**
 * A message as stored: its place among its siblings (`branch`) is read from the tree, and its `feedback` from the
 * ratings, when it is shown.
 */
export type StoredMessage = Omit<Message, 'branch' | 'feedback'>;

/** An outbox entry for a message's feedback (the entries for messages are their ids, null the conversation's). */
const FEEDBACK_ENTRY = 'feedback:';

function toMessage(r: Row, conversationId: string): StoredMessage {
  return {
    id: str(r.id),
    conversation_id: conversationId,
    seq: num(r.seq),
    role: str(r.role) as Message['role'],
    content: str(r.content),
    parts: json<MessagePart[]>(r.parts, []),
    status: str(r.status) as Message['status'],
    reply_to: r.reply_to === null ? null : str(r.reply_to),
    parent_id: r.parent_id === null || r.parent_id === undefined ? null : str(r.parent_id),
    client_message_id: r.client_message_id === null ? null : str(r.client_message_id),
    created_at: str(r.created_at),
    metadata: json(r.metadata, {}),
  };
}

export class RoomStore {
  private readonly sql: SqlStorage;
  /** The conversation as a tree, and its active branch (SPEC §9). */
  readonly tree: MessageTree;
  /** Thumbs up or down on its replies (SPEC §9). */
  readonly feedback: MessageFeedback;
  /** The tool approvals its replies asked for, and the answers remembered for it (SPEC §9). */
  readonly approvals: ApprovalBook;

  constructor(private readonly storage: DurableObjectStorage) {
    this.sql = storage.sql;
    this.sql.exec(SCHEMA);
    const columns = new Set(
      this.sql
        .exec('PRAGMA table_info(conversation)')
        .toArray()
        .map((r) => str(r.name)),
    );
    for (const [column, add] of Object.entries(ADDED_COLUMNS)) if (!columns.has(column)) this.sql.exec(add);
    const ticketColumns = this.sql.exec('PRAGMA table_info(tickets)').toArray();
    if (!ticketColumns.some((r) => r.name === 'token_expires_at')) this.sql.exec(ADD_TICKET_TOKEN_EXPIRY);
    this.tree = new MessageTree(this.sql);
    this.feedback = new MessageFeedback(this.sql);
    this.approvals = new ApprovalBook(this.sql);
  }

  /**
   * The conversation as last read or written, so a send does not read and parse it three times: the room is its
   * only writer. Undefined: read it again. Callers treat the record as read-only and write a new one.
   */
  private current: ConversationRecord | null | undefined;

  conversation(): ConversationRecord | null {
    if (this.current === undefined) {
      const row = this.sql.exec('SELECT * FROM conversation LIMIT 1').toArray()[0];
      this.current = row ? toConversation(row) : null;
    }
    return this.current;
  }

  /** Runs `writes` as one transaction; if it throws, nothing of it stays, in storage or in what is kept above. */
  transaction(writes: () => void): void {
    try {
      this.storage.transactionSync(writes);
    } catch (err) {
      this.current = undefined;
      throw err;
    }
  }

  saveConversation(c: ConversationRecord): void {
    this.current = undefined;
    this.sql.exec(
      `INSERT OR REPLACE INTO conversation
       (id, user_id, title, title_source, created_at, updated_at, last_message_at, message_count, metadata, pinned,
        archived)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      c.id,
      c.userId,
      c.title,
      c.titleSource,
      c.createdAt,
      c.updatedAt,
      c.lastMessageAt,
      c.messageCount,
      JSON.stringify(c.metadata),
      c.pinned ? 1 : 0,
      c.archived ? 1 : 0,
    );
    this.current = c;
  }

  /** The highest seq of any branch: seqs are the insertion order across all of them (1..n, no gaps). */
  lastSeq(): number {
    return num(this.sql.exec('SELECT coalesce(max(seq), 0) AS s FROM messages').one().s);
  }

  /** The last message of the active branch, or null before the first message. */
  head(): string | null {
    return this.tree.head();
  }

  message(conversationId: string, id: string): Message | null {
    return this.one(conversationId, 'SELECT * FROM messages WHERE id = ?', id);
  }

  messageByClientId(conversationId: string, clientMessageId: string): Message | null {
    return this.one(conversationId, 'SELECT * FROM messages WHERE client_message_id = ?', clientMessageId);
  }

  /** The first reply to a user message: the one its send made (a regenerate adds others after it). */
  replyTo(conversationId: string, userMessageId: string): Message | null {
    return this.one(conversationId, 'SELECT * FROM messages WHERE reply_to = ? ORDER BY seq LIMIT 1', userMessageId);
  }

  messagesWithStatus(conversationId: string, status: Message['status']): Message[] {
    const rows = this.sql.exec('SELECT * FROM messages WHERE status = ? ORDER BY seq', status).toArray();
    return this.branched(rows.map((r) => toMessage(r, conversationId)));
  }

  /**
   * A page of the active branch in ascending seq (SPEC §9: `before_seq`/`after_seq` are seqs on it), and whether
   * more lie beyond it in the direction of paging.
   */
  page(
    conversationId: string,
    q: { limit: number; before_seq?: number | undefined; after_seq?: number | undefined },
  ): { messages: Message[]; has_more: boolean } {
    const { ids, has_more } = this.tree.page(q);
    return { messages: this.branched(this.byIds(conversationId, ids)), has_more };
  }

  /** The active branch's written (not streaming) messages, in seq order: what a share link shows (SPEC §10). */
  written(conversationId: string): StoredMessage[] {
    return this.sql
      .exec("SELECT m.* FROM path p JOIN messages m ON m.id = p.id WHERE m.status <> 'streaming' ORDER BY p.seq")
      .toArray()
      .map((r) => toMessage(r, conversationId));
  }

  /** How many of the active branch's written messages come before `seq`: a message's place on a share link. */
  writtenBefore(seq: number): number {
    return num(
      this.sql
        .exec(
          "SELECT count(*) AS n FROM path p JOIN messages m ON m.id = p.id WHERE p.seq < ? AND m.status <> 'streaming'",
          seq,
        )
        .one().n,
    );
  }

  /** The active branch up to the message at `seq`, its last `limit` messages, oldest first: the agent's history. */
  pathUpTo(conversationId: string, seq: number, limit: number): StoredMessage[] {
    return this.byIds(conversationId, this.tree.pathUpTo(seq, limit));
  }

  /** Messages as shown: with their place among their siblings, and their feedback. */
  branched(messages: StoredMessage[]): Message[] {
    const ids = messages.map((m) => m.id);
    const branches = this.tree.branches(ids);
    const feedback = this.feedback.of(ids);
    return messages.map((m) => ({
      ...m,
      branch: branches.get(m.id) ?? { index: 1, count: 1, previous_id: null, next_id: null },
      feedback: feedback.get(m.id) ?? null,
    }));
  }

  /** Sets or (null) removes a message's feedback, owed to Postgres: one storage commit. */
  setFeedback(messageId: string, userId: string, feedback: Message['feedback']): void {
    this.transaction(() => {
      this.feedback.set(messageId, userId, feedback);
      this.enqueue(`${FEEDBACK_ENTRY}${messageId}`);
    });
  }

  private one(conversationId: string, query: string, ...params: SqlStorageValue[]): Message | null {
    const row = this.sql.exec(query, ...params).toArray()[0];
    return row ? (this.branched([toMessage(row, conversationId)])[0] ?? null) : null;
  }

  /** The messages with these ids, in the order given. */
  private byIds(conversationId: string, ids: string[]): StoredMessage[] {
    if (ids.length === 0) return [];
    // One parameter: a page of 200 would be over SQLite's limit of bound parameters here.
    const rows = this.sql.exec(
      'SELECT * FROM messages WHERE id IN (SELECT value FROM json_each(?))',
      JSON.stringify(ids),
    );
    const found = new Map(rows.toArray().map((r) => [str(r.id), toMessage(r, conversationId)]));
    return ids.map((id) => found.get(id)).filter((m) => m !== undefined);
  }

  /** Writes a message whole (its parent included: a reply's final form keeps its place in the tree). */
  saveMessage(m: StoredMessage): void {
    this.sql.exec(
      `INSERT OR REPLACE INTO messages
       (id, seq, role, content, parts, status, reply_to, parent_id, client_message_id, metadata, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      m.id,
      m.seq,
      m.role,
      m.content,
      JSON.stringify(m.parts),
      m.status,
      m.reply_to,
      m.parent_id,
      m.client_message_id,
      JSON.stringify(m.metadata),
      m.created_at,
    );
  }

  /**
   * A turn's new messages and the conversation after them, owed to Postgres, with the conversation's send bucket
   * that admitted them: one storage commit. A send or an edit adds its user message and the reply's first row; a
   * regenerate (`user` already stored) the reply alone. The active branch grows from the new messages' parent, so
   * they end it. `fresh`: the conversation is made by this send. Returns them as shown, with their branch places.
   */
  saveTurn(
    turn: { conversation: ConversationRecord; user: StoredMessage; reply: StoredMessage; userIsNew: boolean },
    bucket: Bucket | null,
    fresh: boolean,
  ): { user: Message; reply: Message } {
    const added = turn.userIsNew ? [turn.user, turn.reply] : [turn.reply];
    this.transaction(() => {
      if (fresh) this.markLive();
      if (bucket) this.keepSendBucket(bucket);
      this.saveConversation(turn.conversation);
      for (const m of added) {
        this.saveMessage(m);
        this.enqueue(m.id);
      }
      this.tree.growFrom(added[0]?.parent_id ?? null, added);
    });
    const [user, reply] = this.branched([turn.user, turn.reply]) as [Message, Message];
    return { user, reply };
  }

  /** Makes the active branch the one through `messageId` (its newest leaf below), owed to Postgres; the new head. */
  switchHead(messageId: string): string {
    let head = messageId;
    this.transaction(() => {
      head = this.tree.switchTo(messageId);
      this.enqueue(null);
    });
    return head;
  }

  /**
   * A reply's final form, the conversation no longer streaming, and the approvals it ends asking for, owed to
   * Postgres: one storage commit.
   */
  saveEndedReply(final: StoredMessage): void {
    const c = this.conversation();
    this.transaction(() => {
      this.saveMessage(final);
      this.approvals.asked(final.id, final.parts);
      if (c) this.saveConversation({ ...c, metadata: { ...c.metadata, streaming: false } });
      this.enqueue(final.id);
    });
  }

  /**
   * A reply with approvals answered (`answered`), owed to Postgres: one storage commit. `goesOn`: its row streams
   * again, and so does the conversation, while the agent continues it.
   */
  saveAnswered(m: StoredMessage, answered: string[], goesOn: boolean): void {
    const c = this.conversation();
    this.transaction(() => {
      this.saveMessage(m);
      this.approvals.markAnswered(answered);
      if (c && goesOn) this.saveConversation({ ...c, metadata: { ...c.metadata, streaming: true } });
      this.enqueue(m.id);
    });
  }

  /** Marks a message (or, with null, the conversation state alone) as owed to Postgres. */
  enqueue(messageId: string | null): void {
    this.sql.exec('DELETE FROM outbox WHERE id <= ?', this.settled);
    this.sql.exec('INSERT INTO outbox (message_id) VALUES (?)', messageId);
  }

  /** What the outbox owes: the highest entry seen and the distinct messages in seq order. */
  pending(conversationId: string): {
    upTo: number;
    messages: StoredMessage[];
    feedback: { messageId: string; row: FeedbackRow | null }[];
  } | null {
    const upTo = num(this.sql.exec('SELECT coalesce(max(id), 0) AS m FROM outbox').one().m);
    if (upTo <= this.settled) return null;
    const messages = this.sql
      .exec(
        `SELECT m.* FROM messages m
         WHERE m.id IN (SELECT message_id FROM outbox WHERE id > ? AND id <= ? AND message_id IS NOT NULL)
         ORDER BY m.seq`,
        this.settled,
        upTo,
      )
      .toArray()
      .map((r) => toMessage(r, conversationId));
    const feedback = this.sql
      .exec(
        `SELECT DISTINCT substr(message_id, ?) AS id FROM outbox
         WHERE id > ? AND id <= ? AND message_id LIKE '${FEEDBACK_ENTRY}%'`,
        FEEDBACK_ENTRY.length + 1,
        this.settled,
        upTo,
      )
      .toArray()
      .map((r) => ({ messageId: str(r.id), row: this.feedback.row(str(r.id)) }));
    return { upTo, messages, feedback };
  }

  private settled = 0;

  /**
   * Records that Postgres has everything up to `upTo`. Unconfirmed: a confirmed write here would hold the
   * chunks of the next reply at the output gate; if it is lost, the next flush repeats idempotent upserts.
   * The settled entries themselves are deleted with the next commit.
   */
  settle(upTo: number): void {
    this.settled = Math.max(this.settled, upTo);
    this.storage.put('outbox_settled', this.settled, { allowUnconfirmed: true }).catch(() => undefined);
  }

  async loadSettled(): Promise<void> {
    this.settled = (await this.storage.get<number>('outbox_settled')) ?? 0;
  }

  addTicket(ticket: string, userId: string, expiresAt: number, tokenExpiresAt: number): void {
    this.sql.exec('DELETE FROM tickets WHERE expires_at < ?', Date.now());
    this.sql.exec(
      'INSERT INTO tickets (ticket, user_id, expires_at, token_expires_at) VALUES (?, ?, ?, ?)',
      ticket,
      userId,
      expiresAt,
      tokenExpiresAt,
    );
  }

  /** Uses a ticket up, whatever happens next: returns its user and their token's expiry when it was valid. */
  takeTicket(ticket: string): { userId: string; tokenExpiresAt: number } | null {
    const row = this.sql.exec('SELECT * FROM tickets WHERE ticket = ?', ticket).toArray()[0];
    if (!row) return null;
    this.sql.exec('DELETE FROM tickets WHERE ticket = ?', ticket);
    if (num(row.expires_at) < Date.now()) return null;
    return { userId: str(row.user_id), tokenExpiresAt: num(row.token_expires_at) };
  }

  // ---------------------------------------------------------------- the room's notes (kv)

  /** Whether the conversation was deleted here (its room then answers as if it never existed). */
  isDeleted(): boolean {
    return this.note('deleted') === '1';
  }

  /**
   * The conversation is deleted: its rows in the room are wiped and Postgres owes a delete of `conversationId`.
   * One transaction, so a restart finds either the conversation or the delete owed.
   */
  markDeleted(conversationId: string): void {
    this.transaction(() => {
      this.wipeConversation();
      // Deleting the conversation revokes its link (SPEC §10).
      this.setNote('share', '');
      this.setNote('deleted', '1');
      this.setNote('pg_delete', conversationId);
    });
  }

  /** A conversation lives here again (created, or made by a first send after a delete). */
  markLive(): void {
    if (this.note('deleted') === '1') this.setNote('deleted', '');
  }

  /** The id whose Postgres rows are still to be deleted, if any. */
  owedDelete(): string | null {
    return this.note('pg_delete') || null;
  }

  /** Postgres has deleted the rows `owedDelete` named. */
  deleteDone(): void {
    this.setNote('pg_delete', '');
  }

  /** Deleted, and Postgres has forgotten it too: nothing of it needs to stay in the room. */
  isForgettable(): boolean {
    return this.isDeleted() && this.owedDelete() === null;
  }

  /** The conversation's own send bucket, kept with the sends it admitted. */
  sendBucket(): Bucket | null {
    const kept = this.note('bucket');
    return kept ? (JSON.parse(kept) as Bucket) : null;
  }

  keepSendBucket(bucket: Bucket): void {
    this.setNote('bucket', JSON.stringify(bucket));
  }

  /** The conversation's live share link, if it has one. */
  share(): ShareRecord | null {
    const kept = this.note('share');
    return kept ? (JSON.parse(kept) as ShareRecord) : null;
  }

  /** Makes or revokes (null) the link; Postgres is owed the change. */
  saveShare(share: ShareRecord | null): void {
    this.transaction(() => {
      this.setNote('share', share ? JSON.stringify(share) : '');
      this.enqueue(null);
    });
  }

  private note(key: NoteKey): string | null {
    const row = this.sql.exec('SELECT value FROM kv WHERE key = ?', key).toArray()[0];
    return row ? str(row.value) : null;
  }

  private setNote(key: NoteKey, value: string): void {
    this.sql.exec('INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)', key, value);
  }

  /** Everything but the key/value notes: what a deleted conversation leaves behind until Postgres agrees. */
  private wipeConversation(): void {
    this.current = undefined;
    this.sql.exec('DELETE FROM conversation; DELETE FROM messages; DELETE FROM outbox; DELETE FROM tickets;');
    this.tree.wipe();
    this.feedback.wipe();
    this.approvals.wipe();
  }
}

export function toWireConversation(
  c: ConversationRecord,
  streaming: boolean,
  headId: string | null,
  shared: boolean,
): Conversation {
  return {
    id: c.id,
    title: c.title,
    created_at: c.createdAt,
    updated_at: c.updatedAt,
    last_message_at: c.lastMessageAt,
    message_count: c.messageCount,
    streaming,
    pinned: c.pinned,
    archived: c.archived,
    head_id: headId,
    shared,
  };
}
