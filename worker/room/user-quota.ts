import { DurableObject } from 'cloudflare:workers';
import { loadConfig } from '../config';
import { type Bucket, refill, take } from './rate-limit';

/** How long a taken send may go unwritten: a burst of sends is one write, made off their path. */
const KEEP_AFTER_MS = 1_000;
/** How long a room may hold a send it drew in advance (see UserQuota). */
const ADVANCE_TTL_MS = 60_000;

/** What a room is told: whether this send may go (`wait` null) and until when it holds a send drawn in advance. */
export interface Grant {
  wait: number | null;
  /** The room may make its next send without asking, until then (ms since the epoch); null: it must ask. */
  advanceUntil: number | null;
}

interface Advance {
  until: number;
  /** Lent to another room's send while this one still held it; its use must be paid for then. */
  lent: boolean;
}

interface Kept {
  bucket: Bucket | null;
  advances: Array<[string, Advance]>;
}

/**
 * One per user: the send allowance shared by all of the user's conversations, a token bucket.
 *
 * Asking it costs a send a round trip between two objects (~0.25 ms locally, measured by bench/chat.ts) before
 * anything else can happen. So a room that has just sent draws its next send in advance, when the bucket can
 * spare it (two tokens or more left), and spends it without asking; it reports the spending afterwards, off the
 * send's path, and draws the following one. What keeps this exact:
 * - A room holds at most one advance, for ADVANCE_TTL_MS; one it does not spend comes back to the bucket then.
 * - When the bucket is empty, another room's send may take a held advance instead ("lent"). If its holder spends
 *   it after all, the bucket pays for it when that is reported: it goes below zero and refills from there. So over
 *   any stretch the user never gets more than the allowance; at most a burst may run over by the lent advances.
 * - A room that asks while the quota still counts an advance for it (it restarted and forgot it) spends that one.
 */
export class UserQuota extends DurableObject<Env> {
  private bucket: Bucket | null = null;
  /** The user's other writes (create, rename, delete, ws-ticket, stop): a bucket apart from sends. */
  private writes: Bucket | null = null;
  private sharedReads: Bucket | null = null;
  private readonly advances = new Map<string, Advance>();
  private keeping: ReturnType<typeof setTimeout> | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      const kept = await ctx.storage.get<Kept | Bucket>('bucket');
      // Before advances, the bucket alone was kept.
      if (kept && 'tokens' in kept) this.bucket = kept;
      else if (kept) {
        this.bucket = kept.bucket;
        for (const [room, advance] of kept.advances) this.advances.set(room, advance);
      }
      this.writes = (await ctx.storage.get<Bucket>('writes')) ?? null;
    });
  }

  /** Takes one send for `room`'s conversation (from its advance, if the quota still counts one for it). */
  async take(room: string): Promise<Grant> {
    const now = this.settleExpired();
    const held = this.advances.get(room);
    if (held) this.advances.delete(room);
    if (!held || held.lent) {
      const result = take(this.bucket, this.policy(), now);
      this.bucket = result.bucket;
      if (!result.ok && !this.borrow(room)) {
        this.keep();
        return { wait: result.retryAfter, advanceUntil: null };
      }
    }
    const advanceUntil = this.advance(room, now);
    this.keep();
    return { wait: null, advanceUntil };
  }

  /** `room` has spent its advance on a send: pays for it if it had been lent meanwhile, and draws the next one. */
  async spent(room: string): Promise<Grant> {
    const now = this.settleExpired();
    const held = this.advances.get(room);
    this.advances.delete(room);
    if (!held || held.lent) {
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
    this.advances.set(room, { until, lent: false });
    return until;
  }

  /** An empty bucket lends another room's advance to this send, rather than refuse it. */
  private borrow(room: string): boolean {
    for (const [holder, advance] of this.advances) {
      if (holder === room || advance.lent) continue;
      advance.lent = true;
      return true;
    }
    return false;
  }

  /** Advances that ran out unspent go back to the bucket (lent ones were spent by the borrower). */
  private settleExpired(): number {
    const now = Date.now();
    for (const [room, advance] of this.advances) {
      if (advance.until > now) continue;
      this.advances.delete(room);
      if (advance.lent) continue;
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
