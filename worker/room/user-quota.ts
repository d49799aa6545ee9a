import { DurableObject } from 'cloudflare:workers';
import { loadConfig } from '../config';
import { ApiError } from '../errors';
import { type Bucket, refill, take } from './rate-limit';
import { type Entries, INHERITED_ENTRIES, meterRequests } from './storage-meter';

/** How long a taken send may go unwritten: a burst of sends is one write, made off their path. */
const KEEP_AFTER_MS = 1_000;
/** How long a room may hold a send it drew in advance (see UserQuota). */
const ADVANCE_TTL_MS = 60_000;

/**
 * Takes one of `userId`'s other writes (create, rename, delete, ws-ticket, stop; SPEC §3) from their quota, or
 * throws rate_limited: the edge's routes and the room's stop frame count against the same bucket.
 */
export async function spendWrite(env: Env, userId: string): Promise<void> {
  const wait = await env.QUOTAS.get(env.QUOTAS.idFromName(userId)).takeWrite();
  if (wait !== null) {
    throw new ApiError('rate_limited', `too many changes; try again in ${wait} s`, { retryAfter: wait });
  }
}

/** What a room is told: whether this send may go (`wait` null) and until when it holds a send drawn in advance. */
export interface Grant {
  wait: number | null;
  /** The room may make its next send without asking, until then (ms since the epoch); null: it must ask. */
  advanceUntil: number | null;
}

interface Advance {
  until: number;
}

interface Kept {
  bucket: Bucket | null;
  advances: Array<[string, Advance & { lent?: boolean }]>;
}

/**
 * One per user: the send allowance shared by all of the user's conversations, a token bucket.
 *
 * Asking it costs a send a round trip between two objects (~0.25 ms locally, measured by bench/chat.ts) before
 * anything else can happen. So a room that has just sent draws its next send in advance, when the bucket can
 * spare it (two tokens or more left), and spends it without asking; it reports the spending at once, off the
 * send's path, and draws the following one. What keeps this exact (never more sends than the bucket holds, in
 * any instant, however they are spread over conversations):
 * - An advance is a token taken from the bucket when it is drawn. A room holds at most one, for ADVANCE_TTL_MS;
 *   one it does not spend comes back to the bucket then.
 * - When the bucket is empty, another room's send may have a held advance instead, but only once its holder has
 *   given it up (ConversationRoom.giveBackAdvance: a room that has spent it and not yet reported says no). That
 *   round trip is made only when the user is at the limit.
 * - A room that asks while the quota still counts an advance for it (it restarted and forgot it) spends that one.
 * - A spending reported for an advance the quota no longer counts (it ran out meanwhile) is paid from the bucket.
 */
export class UserQuota extends DurableObject<Env> {
  private bucket: Bucket | null = null;
  /** The user's other writes (create, rename, delete, ws-ticket, stop): a bucket apart from sends. */
  private writes: Bucket | null = null;
  private sharedReads: Bucket | null = null;
  private readonly advances = new Map<string, Advance>();
  /** Rooms being asked to give their advance back: no second send is promised the same one meanwhile. */
  private readonly reclaiming = new Set<string>();
  private keeping: ReturnType<typeof setTimeout> | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    meterRequests('UserQuota', UserQuota, QUOTA_ENTRIES, env);
    ctx.blockConcurrencyWhile(async () => {
      const kept = await ctx.storage.get<Kept | Bucket>('bucket');
      // Before advances, the bucket alone was kept.
      if (kept && 'tokens' in kept) this.bucket = kept;
      else if (kept) {
        this.bucket = kept.bucket;
        // An advance kept as lent (an earlier version) was spent by the send it was lent to.
        for (const [room, { until, lent }] of kept.advances) if (!lent) this.advances.set(room, { until });
      }
      this.writes = (await ctx.storage.get<Bucket>('writes')) ?? null;
    });
  }

  /** Takes one send for `room`'s conversation (from its advance, if the quota still counts one for it). */
  async take(room: string): Promise<Grant> {
    const now = this.settleExpired();
    const held = this.advances.get(room);
    if (held) this.advances.delete(room);
    else {
      const result = take(this.bucket, this.policy(), now);
      this.bucket = result.bucket;
      if (!result.ok && !(await this.reclaim(room))) {
        this.keep();
        return { wait: result.retryAfter, advanceUntil: null };
      }
    }
    const advanceUntil = this.advance(room, Date.now());
    this.keep();
    return { wait: null, advanceUntil };
  }

  /** `room` has spent its advance on a send: pays for it if the quota no longer counted it, and draws the next one. */
  async spent(room: string): Promise<Grant> {
    const now = this.settleExpired();
    if (!this.advances.delete(room)) {
      const current = refill(this.bucket, this.policy(), now);
      this.bucket = { ...current, tokens: current.tokens - 1 };
    }
    const advanceUntil = this.advance(room, now);
    this.keep();
    return { wait: null, advanceUntil };
  }

  /** Takes one of the user's other writes: null when it may go, else the whole seconds until one will be there. */
  async takeWrite(): Promise<number | null> {
    const config = loadConfig(this.env);
    const policy = { perMinute: config.RATE_LIMIT_WRITES_PER_MINUTE, burst: config.RATE_LIMIT_WRITES_BURST };
    const result = take(this.writes, policy, Date.now());
    this.writes = result.bucket;
    this.keep();
    return result.ok ? null : result.retryAfter;
  }

  /**
   * Takes one read of a public share link for the client this object is named for (`shared:<address>`): null when
   * it may go, else the whole seconds until one will be there. Kept in memory only: an eviction errs towards allowing.
   */
  async takeSharedRead(): Promise<number | null> {
    const config = loadConfig(this.env);
    const policy = { perMinute: config.RATE_LIMIT_SHARED_PER_MINUTE, burst: config.RATE_LIMIT_SHARED_BURST };
    const result = take(this.sharedReads, policy, Date.now());
    this.sharedReads = result.bucket;
    return result.ok ? null : result.retryAfter;
  }

  private policy() {
    const config = loadConfig(this.env);
    return { perMinute: config.RATE_LIMIT_USER_PER_MINUTE, burst: config.RATE_LIMIT_USER_BURST };
  }

  /** Draws a send in advance for `room` when the bucket can spare it; returns until when it holds it. */
  private advance(room: string, now: number): number | null {
    const current = refill(this.bucket, this.policy(), now);
    if (current.tokens < 2) return null;
    this.bucket = { ...current, tokens: current.tokens - 1 };
    const until = now + ADVANCE_TTL_MS;
    this.advances.set(room, { until });
    return until;
  }

  /**
   * An empty bucket: takes back another room's advance for this send, rather than refuse it. Its holder is asked
   * first, and the advance is this send's only if the holder gave it up and the quota still counts that same one.
   */
  private async reclaim(room: string): Promise<boolean> {
    for (const [holder, advance] of [...this.advances]) {
      if (holder === room || this.reclaiming.has(holder)) continue;
      this.reclaiming.add(holder);
      try {
        if ((await this.askBack(holder)) && this.advances.get(holder) === advance) {
          this.advances.delete(holder);
          return true;
        }
      } finally {
        this.reclaiming.delete(holder);
      }
    }
    return false;
  }

  /** Whether the room `holder` (a ConversationRoom id) gave its advance up; an unreachable one keeps it. */
  private async askBack(holder: string): Promise<boolean> {
    try {
      return await this.env.ROOMS.get(this.env.ROOMS.idFromString(holder)).giveBackAdvance();
    } catch {
      return false;
    }
  }

  /** Advances that ran out unspent go back to the bucket. */
  private settleExpired(): number {
    const now = Date.now();
    for (const [room, advance] of this.advances) {
      if (advance.until > now) continue;
      this.advances.delete(room);
      const current = refill(this.bucket, this.policy(), now);
      this.bucket = { ...current, tokens: Math.min(this.policy().burst, current.tokens + 1) };
    }
    return now;
  }

  // Written a moment later, not in this turn: a storage commit here would hold up the answer, and with it every
  // send. A crash in between forgets at most the last second's sends, which errs towards allowing.
  private keep(): void {
    if (!this.keeping) this.keeping = setTimeout(() => this.write(), KEEP_AFTER_MS);
  }

  private write(): void {
    this.keeping = null;
    const kept: Kept = { bucket: this.bucket, advances: [...this.advances] };
    this.ctx.storage.put('bucket', kept, { allowUnconfirmed: true }).catch(() => undefined);
    if (this.writes) this.ctx.storage.put('writes', this.writes, { allowUnconfirmed: true }).catch(() => undefined);
  }
}

/** Every way into a quota object, for the capacity bench's request count (storage-meter.ts). */
const QUOTA_ENTRIES: Record<Entries<UserQuota>, true> = {
  take: true,
  spent: true,
  takeWrite: true,
  takeSharedRead: true,
  ...INHERITED_ENTRIES,
};
