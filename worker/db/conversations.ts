import { and, desc, eq, lt, or, sql } from 'drizzle-orm';
import type { Config } from '../config';
import { ApiError } from '../errors';
import type { Conversation } from '../wire';
import { db, openPool } from './client';
import { conversationStates } from './schema';

interface Cursor {
  at: string;
  id: string;
}

function encodeCursor(c: Cursor): string {
  return btoa(JSON.stringify([c.at, c.id]))
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '');
}

function decodeCursor(raw: string): Cursor {
  try {
    const [at, id] = JSON.parse(atob(raw.replaceAll('-', '+').replaceAll('_', '/'))) as unknown[];
    if (typeof at === 'string' && typeof id === 'string' && !Number.isNaN(Date.parse(at))) return { at, id };
  } catch {
    // Falls through to the error below.
  }
  throw new ApiError('invalid_request', 'query.cursor: not a cursor this API gave out');
}

const iso = (pgTime: string) => new Date(pgTime).toISOString();

/** The user's conversations by last activity, newest first, keyset-paginated on (last_message_at, id). */
export async function listConversations(
  config: Config,
  userId: string,
  limit: number,
  cursor: string | undefined,
): Promise<{ conversations: Conversation[]; next_cursor: string | null }> {
  const after = cursor ? decodeCursor(cursor) : null;
  const pool = openPool(config);
  try {
    const t = conversationStates;
    const rows = await db(pool)
      .select()
      .from(t)
      .where(
        and(
          eq(t.userId, userId),
          after
            ? or(lt(t.lastMessageAt, after.at), and(eq(t.lastMessageAt, after.at), sql`${t.id} < ${after.id}::uuid`))
            : undefined,
        ),
      )
      .orderBy(desc(t.lastMessageAt), desc(t.id))
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
      })),
      next_cursor: rows.length > limit && last ? encodeCursor({ at: last.lastMessageAt, id: last.id }) : null,
    };
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new ApiError('unavailable', 'the conversation list is unavailable right now', { cause: err });
  } finally {
    await pool.end().catch(() => undefined);
  }
}
