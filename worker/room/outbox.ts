import { and, eq, inArray, ne, sql } from 'drizzle-orm';
import type { Config } from '../config';
import { bounded, type Database, db } from '../db/client';
import { conversationMessages, conversationShares, conversationStates, messageFeedback } from '../db/schema';
import { log } from '../log';
import { armAlarm } from './alarm';
import type { FeedbackRow } from './feedback';
import type { ConversationRecord, RoomStore, StoredMessage } from './store';

/** How long an answer waits for Postgres to catch up with it (catchUp). */
export const CATCH_UP_MS = 1_000;
/** How long the start of a reply may wait for Postgres when the reply itself runs longer. */
const REPLY_START_DELAY_MS = 2_000;
/** Rows a single INSERT carries; keeps statements well under Postgres' 65,535 parameters. */
const BATCH = 500;
const BACKOFF_MS = [500, 1_000, 2_000, 4_000, 8_000, 10_000];
/**
 * A whole attempt must end: a request to Postgres that never settles (seen with 500 rooms flushing at once)
 * would hold the room's outbox for good. A late finish of an abandoned attempt is harmless: its upserts are
 * idempotent and the settled watermark only moves up.
 */
const ATTEMPT_TIMEOUT_MS = 10_000;
/** A flush that took longer than this from its first attempt is logged at info (quicker ones at debug). */
const LAG_LOG_MS = 5_000;

export type FlushResult = { ok: true; flushed: number } | { ok: false; retryInMs: number; error: unknown };

/**
 * Carries what the room committed to its own storage over to Postgres: the conversation state and its
 * messages, in seq order, in one transaction (one HTTP batch, so the room holds no connection between
 * flushes), with idempotent upserts. A failure leaves the outbox as it was and is retried from the room's
 * alarm; entries added while a flush runs wait for the next one.
 */
export class Outbox {
  private running: Promise<FlushResult> | null = null;
  private again = false;
  private failures = 0;
  /** When the first attempt to carry what is owed now was made: the outbox lag is measured from it. */
  private owedSince: number | null = null;
  /** The share link as this room last wrote it to Postgres (`undefined`: not known since the room started). */
  private sharedAs: string | undefined;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly storeOf: () => RoomStore,
    private readonly config: () => Config,
  ) {}

  /** Flushes in the background; a failure is retried from the alarm. */
  kick(): void {
    this.ctx.waitUntil(this.flushOrRetry());
  }

  /**
   * Postgres is written when a reply ends (`kick`), and a long reply's start a little after it began: off the path
   * of the first chunks. A timer, not the alarm: setting an alarm is a storage write, and the output gate would
   * hold the first chunks until it is durable. A restart re-arms the outbox from storage.
   */
  duringReply(done: Promise<unknown>): void {
    const early = setTimeout(() => this.kick(), REPLY_START_DELAY_MS);
    done.finally(() => clearTimeout(early));
  }

  /**
   * The list is read from Postgres: a create, rename or JSON send shows there when it answers, if Postgres
   * keeps up. It waits no longer than CATCH_UP_MS: with Postgres down or 500 rooms logging in at once, a create
   * waited 3–11 s for a flush the outbox finishes on its own anyway.
   */
  async catchUp(): Promise<void> {
    const flushing = this.flushOrRetry();
    this.ctx.waitUntil(flushing);
    await bounded(CATCH_UP_MS, () => flushing).catch(() => undefined);
  }

  private async flushOrRetry(): Promise<void> {
    const result = await this.flush();
    if (!result.ok) await armAlarm(this.ctx.storage, result.retryInMs);
  }

  /**
   * Flushes now, waiting at most `waitMs` (a hung Postgres must not hold an answer); what it could not finish, the
   * alarm retries. True when everything owed has reached Postgres.
   */
  async flushWithin(waitMs: number): Promise<boolean> {
    const result = await bounded(waitMs, () => this.flush()).catch(() => null);
    if (!result?.ok) await armAlarm(this.ctx.storage, result?.retryInMs ?? CATCH_UP_MS);
    return result?.ok === true;
  }

  /** Single flight: a call during a flush makes that flush go round once more. */
  flush(): Promise<FlushResult> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.loop().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async loop(): Promise<FlushResult> {
    let total = 0;
    let retried = false;
    do {
      this.again = false;
      const result = await this.once();
      if (!result.ok) {
        // Asked again while this attempt failed (Postgres may be back): one more try now, not after the backoff.
        if (!this.again || retried) return result;
        retried = true;
        this.again = true;
        continue;
      }
      total += result.flushed;
    } while (this.again);
    return { ok: true, flushed: total };
  }

  private get store(): RoomStore {
    return this.storeOf();
  }

  private async once(): Promise<FlushResult> {
    const deleteId = this.store.owedDelete();
    const conversation = this.store.conversation();
    const pending = conversation ? this.store.pending(conversation.id) : null;
    if (!deleteId && !pending) return { ok: true, flushed: 0 };
    this.owedSince ??= Date.now();
    const since = this.owedSince;
    const database = db(this.config());
    try {
      await bounded(ATTEMPT_TIMEOUT_MS, async () => {
        // An owed delete goes first: a conversation made again under the same id (a retried first send) is
        // written after it, never wiped by it.
        if (deleteId) {
          await database.delete(conversationStates).where(eq(conversationStates.id, deleteId));
          this.store.deleteDone();
        }
        if (conversation && pending) {
          await this.write(database, conversation, this.store.head(), pending);
          this.store.settle(pending.upTo);
        }
      });
      const flushed = pending?.messages.length ?? 0;
      const lagMs = Date.now() - since;
      log(this.failures > 0 || lagMs > LAG_LOG_MS ? 'info' : 'debug', 'outbox flushed', {
        conversation_id: conversation?.id ?? deleteId,
        messages: flushed,
        deleted: Boolean(deleteId),
        attempts: this.failures + 1,
        lag_ms: lagMs,
      });
      this.failures = 0;
      this.owedSince = null;
      return { ok: true, flushed };
    } catch (error) {
      const retryInMs = BACKOFF_MS[Math.min(this.failures, BACKOFF_MS.length - 1)] ?? 10_000;
      this.failures++;
      log('warn', 'outbox flush failed; will retry', {
        conversation_id: conversation?.id ?? deleteId,
        messages: pending?.messages.length ?? 0,
        attempt: this.failures,
        retry_in_ms: retryInMs,
        lag_ms: Date.now() - since,
        error: String(error),
      });
      return { ok: false, retryInMs, error };
    }
  }

  private async write(
    database: Database,
    c: ConversationRecord,
    headId: string | null,
    { messages, feedback }: { messages: StoredMessage[]; feedback: OwedFeedback[] },
  ): Promise<void> {
    const state = database
      .insert(conversationStates)
      .values({
        id: c.id,
        userId: c.userId,
        title: c.title,
        createdAt: c.createdAt,
        updatedAt: c.updatedAt,
        lastMessageAt: c.lastMessageAt,
        messageCount: c.messageCount,
        metadata: c.metadata,
        pinned: c.pinned,
        archived: c.archived,
        headId,
      })
      .onConflictDoUpdate({
        target: conversationStates.id,
        set: {
          title: c.title,
          updatedAt: c.updatedAt,
          lastMessageAt: c.lastMessageAt,
          messageCount: c.messageCount,
          metadata: c.metadata,
          pinned: c.pinned,
          archived: c.archived,
          headId,
        },
      });
    const inserts = [];
    for (let i = 0; i < messages.length; i += BATCH) {
      const rows = messages.slice(i, i + BATCH).map((m) => ({
        id: m.id,
        conversationId: c.id,
        userId: c.userId,
        seq: m.seq,
        role: m.role,
        content: m.content,
        parts: m.parts,
        status: m.status,
        replyTo: m.reply_to,
        parentId: m.parent_id,
        clientMessageId: m.client_message_id,
        metadata: m.metadata,
        createdAt: m.created_at,
      }));
      inserts.push(
        database
          .insert(conversationMessages)
          .values(rows)
          .onConflictDoUpdate({
            target: conversationMessages.id,
            set: {
              content: sql`excluded.content`,
              parts: sql`excluded.parts`,
              status: sql`excluded.status`,
              metadata: sql`excluded.metadata`,
            },
          }),
      );
    }
    const share = this.shareRows(database, c.id);
    // Feedback after the messages it names (a foreign key), in the same transaction.
    const ratings = feedbackStatements(database, c.id, feedback);
    await database.batch([state, ...inserts, ...ratings, ...(share?.statements ?? [])]);
    if (share) this.sharedAs = share.as;
  }

  /**
   * The statements that make Postgres hold the room's share link (or none), when it may not yet: the public link
   * is looked up there. Revoking does not wait for them: the room refuses a revoked link itself.
   */
  private shareRows(database: Database, conversationId: string) {
    const share = this.store.share();
    const as = JSON.stringify(share);
    if (as === this.sharedAs) return null;
    const ofConversation = eq(conversationShares.conversationId, conversationId);
    if (!share) return { as, statements: [database.delete(conversationShares).where(ofConversation)] };
    return {
      as,
      statements: [
        database.delete(conversationShares).where(and(ofConversation, ne(conversationShares.id, share.id))),
        database
          .insert(conversationShares)
          .values({ id: share.id, conversationId, createdAt: share.createdAt })
          .onConflictDoNothing(),
      ],
    };
  }
}

type OwedFeedback = { messageId: string; row: FeedbackRow | null };

/** The ratings owed to Postgres as upserts, and those removed since as one delete. */
function feedbackStatements(database: Database, conversationId: string, owed: OwedFeedback[]) {
  const rows = owed.flatMap((f) => (f.row ? [f.row] : []));
  const removed = owed.filter((f) => f.row === null).map((f) => f.messageId);
  const statements = [];
  if (rows.length > 0) {
    statements.push(
      database
        .insert(messageFeedback)
        .values(rows.map((r) => ({ ...r, conversationId })))
        .onConflictDoUpdate({
          target: messageFeedback.messageId,
          set: {
            rating: sql`excluded.rating`,
            comment: sql`excluded.comment`,
            updatedAt: sql`excluded.updated_at`,
          },
        }),
    );
  }
  if (removed.length > 0) {
    statements.push(database.delete(messageFeedback).where(inArray(messageFeedback.messageId, removed)));
  }
  return statements;
}
