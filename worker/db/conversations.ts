import { and, desc, eq, getTableColumns, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Config } from '../config';
import { type Conversation, Id } from '../wire';
import { db } from './client';
import { decodeCursor, encodeCursor } from './cursor';
import { DatabaseUnavailable } from './errors';
import { conversationMessages, conversationShares, conversationStates } from './schema';

interface Cursor {
  at: string;
  id: string;
  pinned: boolean;
}

function cursorOf(c: Cursor): string {
  return encodeCursor([c.at, c.id, c.pinned]);
}

/** Postgres' text form of a timestamptz, as the cursor carries it (microseconds kept, so ties page exactly). */
const PG_TIME = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(Z|[+-]\d{2}(:?\d{2}){0,2})$/;

/** A real calendar time: a well-formed but impossible one (month 13) would reach Postgres and fail there. */
export function isTimestamp(text: string): boolean {
  const m = PG_TIME.exec(text);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  return (
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day &&
    date.getUTCHours() === hour &&
    date.getUTCMinutes() === minute &&
    date.getUTCSeconds() === second
  );
}

const CursorFields = z.tuple([z.string().refine(isTimestamp), Id, z.boolean()]);

function readCursor(raw: string): Cursor {
  const [at, id, pinned] = decodeCursor(raw, CursorFields);
  return { at, id, pinned };
}

const iso = (pgTime: string) => new Date(pgTime).toISOString();

/**
 * The user's conversations (SPEC §10): pinned ones first, then by last activity, newest first; the archived ones
 * only, or none of them. Keyset-paginated on (pinned, last_message_at, id), all descending, so one row comparison
 * continues a page and the list index serves it.
 */
export async function listConversations(
  config: Config,
  userId: string,
  q: { limit: number; cursor?: string | undefined; archived: boolean },
): Promise<{ conversations: Conversation[]; next_cursor: string | null }> {
  const { limit } = q;
  const after = q.cursor ? readCursor(q.cursor) : null;
  try {
    const t = conversationStates;
    const rows = await db(config)
      .select({
        ...getTableColumns(t),
        // The link as the room last wrote it through its outbox (a share waits for that write before it answers).
        shared:
          sql<boolean>`exists (select 1 from ${conversationShares} s where s.conversation_id = conversation_states.id)`.as(
            'shared',
          ),
      })
      .from(t)
      .where(
        and(
          eq(t.userId, userId),
          eq(t.archived, q.archived),
          after
            ? sql`(${t.pinned}, ${t.lastMessageAt}, ${t.id}) < (${after.pinned}, ${after.at}::timestamptz, ${after.id}::uuid)`
            : undefined,
        ),
      )
      .orderBy(desc(t.pinned), desc(t.lastMessageAt), desc(t.id))
      .limit(limit + 1);
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      conversations: page.map((r) => ({
        id: r.id,
        title: r.title,
        created_at: iso(r.createdAt),
        updated_at: iso(r.updatedAt),
        last_message_at: iso(r.lastMessageAt),
        message_count: r.messageCount,
        streaming: r.metadata.streaming === true,
        pinned: r.pinned,
        archived: r.archived,
        head_id: r.headId,
        shared: r.shared,
      })),
      next_cursor:
        rows.length > limit && last ? cursorOf({ at: last.lastMessageAt, id: last.id, pinned: last.pinned }) : null,
    };
  } catch (err) {
    throw new DatabaseUnavailable('the conversation list is unavailable right now', { cause: err });
  }
}

/**
 * The conversation a message belongs to, when it is the user's, as Postgres has it (a route that names a message
 * alone, as feedback's does, finds its room so); null when there is no such message of theirs there (yet).
 */
export async function conversationOfMessage(config: Config, userId: string, messageId: string): Promise<string | null> {
  try {
    const rows = await db(config)
      .select({ id: conversationMessages.conversationId })
      .from(conversationMessages)
      .innerJoin(conversationStates, eq(conversationStates.id, conversationMessages.conversationId))
      .where(and(eq(conversationMessages.id, messageId), eq(conversationStates.userId, userId)))
      .limit(1);
    return rows[0]?.id ?? null;
  } catch (err) {
    throw new DatabaseUnavailable('messages cannot be looked up right now', { cause: err });
  }
}
