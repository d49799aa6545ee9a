/**
 * Export (SPEC §10), read from Postgres: the record outside the room. A reply reaches it when it ends, so a reply
 * still streaming is exported as far as it was last flushed, with status streaming.
 */
import type { Config } from '../config';
import { ApiError } from '../errors';
import type { ConversationExport, ExportedMessage } from '../wire';
import { sqlQuery } from './client';
import { DatabaseUnavailable } from './errors';

interface ConversationRow {
  id: string;
  title: string;
  created_at: string;
  updated_at: string;
  last_message_at: string;
  head_id: string | null;
}

interface MessageRow {
  id: string;
  seq: number;
  role: 'user' | 'assistant';
  content: string;
  parts: Array<{ type: string } & Record<string, unknown>>;
  status: ExportedMessage['status'];
  reply_to: string | null;
  parent_id: string | null;
  created_at: string;
}

interface FeedbackRow {
  message_id: string;
  rating: 'up' | 'down';
  comment: string | null;
  created_at: string;
  updated_at: string;
}

const iso = (pgTime: string) => new Date(pgTime).toISOString();

/** The user's conversation with every message of every branch and its feedback; not_found when not theirs. */
export async function exportConversation(config: Config, userId: string, id: string): Promise<ConversationExport> {
  try {
    const found = await sqlQuery<ConversationRow>(
      config,
      `select id, title, created_at::text, updated_at::text, last_message_at::text, head_id
       from conversation_states where id = $1 and user_id = $2`,
      [id, userId],
    );
    const c = found[0];
    if (!c) throw new ApiError('not_found', 'no such conversation');
    const [messages, feedback] = await Promise.all([
      sqlQuery<MessageRow>(
        config,
        `select id, seq, role, content, parts, status, reply_to, parent_id, created_at::text
         from conversation_messages where conversation_id = $1 order by seq`,
        [id],
      ),
      sqlQuery<FeedbackRow>(
        config,
        `select message_id, rating, comment, created_at::text, updated_at::text
         from message_feedback where conversation_id = $1 order by created_at`,
        [id],
      ),
    ]);
    const all = messages.map((m) => ({ ...m, created_at: iso(m.created_at) }));
    return {
      conversation: {
        id: c.id,
        title: c.title,
        created_at: iso(c.created_at),
        updated_at: iso(c.updated_at),
        last_message_at: iso(c.last_message_at),
        head_id: c.head_id,
      },
      messages: all,
      active_branch: activeBranch(all, c.head_id).map((m) => m.id),
      feedback: feedback.map((f) => ({ ...f, created_at: iso(f.created_at), updated_at: iso(f.updated_at) })),
      exported_at: new Date().toISOString(),
    };
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new DatabaseUnavailable('export is unavailable right now', { cause: err });
  }
}

/**
 * The messages of the active branch in order: from the head back through parent_id to the first (SPEC §9). A
 * conversation without a head (none written yet, or from before branches) is one branch: every message by seq.
 */
export function activeBranch<M extends { id: string; parent_id: string | null }>(all: M[], headId: string | null): M[] {
  const byId = new Map(all.map((m) => [m.id, m]));
  const head = headId ? byId.get(headId) : undefined;
  if (!head) return all;
  const chain: M[] = [];
  const seen = new Set<string>();
  for (let m: M | undefined = head; m && !seen.has(m.id); m = m.parent_id ? byId.get(m.parent_id) : undefined) {
    seen.add(m.id);
    chain.push(m);
  }
  return chain.reverse();
}
