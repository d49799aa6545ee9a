import { and, desc, eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Config } from '../config';
import { ApiError } from '../errors';
import { type Conversation, Id } from '../wire';
import { db } from './client';
import { DatabaseUnavailable } from './errors';
import { conversationStates } from './schema';

interface Cursor {
  at: string;
  id: string;
  pinned: boolean;
}

function encodeCursor(c: Cursor): string {
  return btoa(JSON.stringify([c.at, c.id, c.pinned]))
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '');
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

/** Anything but a cursor this API gave out is the caller's mistake (400), never a query Postgres refuses (503). */
function decodeCursor(raw: string): Cursor {
  let json: unknown;
  try {
    json = JSON.parse(atob(raw.replaceAll('-', '+').replaceAll('_', '/')));
  } catch {
    json = undefined;
  }
  const fields = CursorFields.safeParse(json);
  if (!fields.success) throw new ApiError('invalid_request', 'query.cursor: not a cursor this API gave out');
  const [at, id, pinned] = fields.data;
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
  const after = q.cursor ? decodeCursor(q.cursor) : null;
  try {
    const t = conversationStates;
    const rows = await db(config)
      .select()
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
      })),
      next_cursor:
        rows.length > limit && last ? encodeCursor({ at: last.lastMessageAt, id: last.id, pinned: last.pinned }) : null,
    };
  } catch (err) {
    throw new DatabaseUnavailable('the conversation list is unavailable right now', { cause: err });
  }
}
