import { ApiError } from '../errors';
import type { Feedback, Message } from '../wire';
import { noSuchMessage } from './branches';
import type { RoomStore } from './store';

/**
 * Thumbs up or down on assistant messages, with an optional comment (SPEC §9), in the room's storage: shown on the
 * owner's message objects, and carried to Postgres `message_feedback` by the outbox (the table the AgentCore team
 * reads). A removed rating is owed to Postgres as a delete.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS feedback (
  message_id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  rating TEXT NOT NULL,
  comment TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
`;

/** A rating as stored and as Postgres gets it. */
export interface FeedbackRow {
  messageId: string;
  userId: string;
  rating: Feedback['rating'];
  comment: string | null;
  createdAt: string;
  updatedAt: string;
}

const str = (v: SqlStorageValue | undefined): string => (typeof v === 'string' ? v : String(v ?? ''));

export class MessageFeedback {
  constructor(private readonly sql: SqlStorage) {
    this.sql.exec(SCHEMA);
  }

  /** The feedback on each of these messages that has some. */
  of(ids: string[]): Map<string, Feedback> {
    const out = new Map<string, Feedback>();
    if (ids.length === 0) return out;
    const rows = this.sql.exec(
      'SELECT message_id, rating, comment FROM feedback WHERE message_id IN (SELECT value FROM json_each(?))',
      JSON.stringify(ids),
    );
    for (const r of rows) {
      out.set(str(r.message_id), {
        rating: str(r.rating) as Feedback['rating'],
        comment: r.comment === null ? null : str(r.comment),
      });
    }
    return out;
  }

  /** The stored row of one message's feedback, or null when it has none (owed to Postgres as a delete). */
  row(messageId: string): FeedbackRow | null {
    const r = this.sql.exec('SELECT * FROM feedback WHERE message_id = ?', messageId).toArray()[0];
    if (!r) return null;
    return {
      messageId: str(r.message_id),
      userId: str(r.user_id),
      rating: str(r.rating) as Feedback['rating'],
      comment: r.comment === null ? null : str(r.comment),
      createdAt: str(r.created_at),
      updatedAt: str(r.updated_at),
    };
  }

  /** Sets (or with null, removes) a message's feedback; a change keeps when it was first given. */
  set(messageId: string, userId: string, feedback: Feedback | null): void {
    if (feedback === null) {
      this.sql.exec('DELETE FROM feedback WHERE message_id = ?', messageId);
      return;
    }
    const now = new Date().toISOString();
    this.sql.exec(
      `INSERT INTO feedback (message_id, user_id, rating, comment, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (message_id) DO UPDATE SET rating = excluded.rating, comment = excluded.comment,
         updated_at = excluded.updated_at`,
      messageId,
      userId,
      feedback.rating,
      feedback.comment,
      now,
      now,
    );
  }

  /** Forgets every rating (the conversation was deleted; Postgres deletes its rows with it). */
  wipe(): void {
    this.sql.exec('DELETE FROM feedback');
  }
}

/**
 * Rates (or with null, unrates) the reply `messageId` for `userId`, owed to Postgres; answers the message as every
 * socket should now show it.
 */
export function rate(
  store: RoomStore,
  conversationId: string,
  messageId: string,
  userId: string,
  feedback: Feedback | null,
): Message {
  const rated = store.message(conversationId, messageId);
  if (!rated) throw noSuchMessage();
  assertRatable(rated);
  store.setFeedback(rated.id, userId, feedback);
  return { ...rated, feedback };
}

/** Feedback is on a reply that has ended: a user message, or a reply still streaming, cannot be rated. */
function assertRatable(m: Message): void {
  if (m.role !== 'assistant') throw new ApiError('invalid_request', 'only assistant messages take feedback');
  if (m.status === 'streaming') {
    throw new ApiError('reply_in_progress', 'this reply is still streaming; rate it when it has ended');
  }
}
