import { eq } from 'drizzle-orm';
import type { Config } from '../config';
import { db } from './client';
import { DatabaseUnavailable } from './errors';
import { conversationShares } from './schema';

/** The conversation a public share link belongs to, or null for a link Postgres does not know (SPEC §10). */
export async function conversationOfShare(config: Config, shareId: string): Promise<string | null> {
  try {
    const rows = await db(config)
      .select({ conversationId: conversationShares.conversationId })
      .from(conversationShares)
      .where(eq(conversationShares.id, shareId))
      .limit(1);
    return rows[0]?.conversationId ?? null;
  } catch (err) {
    throw new DatabaseUnavailable('shared conversations are unavailable right now', { cause: err });
  }
}
