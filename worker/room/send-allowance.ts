import { ApiError } from '../errors';
import { type Bucket, type BucketPolicy, take } from './rate-limit';
import type { Grant } from './user-quota';

/** A send drawn in advance is spent only this long before the quota would take it back (clocks may differ). */
const ADVANCE_MARGIN_MS = 5_000;

/** The user's allowance across conversations, as a room reaches it (the UserQuota object). */
export interface Quota {
  take(room: string): Promise<Grant>;
  spent(room: string): Promise<Grant>;
}

/**
 * A conversation's send allowance: its own token bucket, then the user's across conversations (UserQuota); a
 * refusal by the user's gives the conversation's token back.
 *
 * The user's send is one the room drew in advance when it holds one, so most sends do not wait for the quota (a
 * first send in a conversation asks it once). Spending an advance is reported at once, off the send's path, and
 * the answer is the next advance. An advance is the user's token, paid for when it was drawn: the quota may take
 * it back for another conversation's send (`giveBack`), and this room then asks before its next send, so the
 * user never has more sends than the bucket holds. The advance is held in memory only: a restarted room asks,
 * and the quota, which still counts it, lets it spend it then.
 */
export class SendAllowance {
  private kept: Bucket | null = null;
  /** Until when the room holds a send drawn in advance. */
  private advanceUntil: number | null = null;
  /** Times the room has asked the quota: a late report does not hand out an advance a later ask has replaced. */
  private asked = 0;
  /** The report of a spent advance the quota may not have heard yet; it brings the next advance. */
  private reporting: Promise<void> | null = null;

  constructor(
    private readonly room: string,
    private readonly quotaOf: (userId: string) => Quota,
    private readonly policy: () => BucketPolicy,
  ) {}

  /** The conversation's bucket, to be stored with the send it admitted (a restart reads it back with `load`). */
  get bucket(): Bucket | null {
    return this.kept;
  }

  /** Starts again from a stored bucket (null: full). */
  load(bucket: Bucket | null): void {
    this.kept = bucket;
  }

  /** Takes one send for `userId` or throws rate_limited. Returns whether it spent an advance (without asking). */
  async admit(userId: string): Promise<boolean> {
    const policy = this.policy();
    const mine = take(this.kept, policy, Date.now());
    if (!mine.ok) throw rateLimited(mine.retryAfter);
    this.kept = mine.bucket;
    if (this.spendAdvance(userId)) return true;
    // A report on its way brings the next advance; asking before it arrives could spend the advance it reports.
    if (this.reporting) await this.reporting;
    if (this.spendAdvance(userId)) return true;
    this.asked++;
    const grant = await this.quotaOf(userId).take(this.room);
    if (grant.wait !== null) {
      const now = this.kept ?? mine.bucket;
      this.kept = { ...now, tokens: Math.min(policy.burst, now.tokens + 1) };
      throw rateLimited(grant.wait);
    }
    this.advanceUntil = grant.advanceUntil;
    return false;
  }

  /**
   * The quota would lend this room's advance to another conversation's send. Gives it up (the next send asks)
   * and says yes, unless a send has spent it and the quota has not heard yet: then no, it is not the quota's to lend.
   */
  giveBack(): boolean {
    if (this.reporting) return false;
    this.advanceUntil = null;
    return true;
  }

  /** Settles when the quota has heard of every advance spent so far (for observers: no send waits on it). */
  reported(): Promise<void> {
    return this.reporting ?? Promise.resolve();
  }

  private spendAdvance(userId: string): boolean {
    const until = this.advanceUntil;
    if (until === null || Date.now() >= until - ADVANCE_MARGIN_MS) return false;
    this.advanceUntil = null;
    const asked = this.asked;
    const report: Promise<void> = this.quotaOf(userId)
      .spent(this.room)
      .then((grant) => {
        if (this.asked === asked) this.advanceUntil = grant.advanceUntil;
      })
      .catch(() => undefined)
      .finally(() => {
        if (this.reporting === report) this.reporting = null;
      });
    this.reporting = report;
    return true;
  }
}

const rateLimited = (retryAfter: number) =>
  new ApiError('rate_limited', `too many messages; try again in ${retryAfter} s`, { retryAfter });
