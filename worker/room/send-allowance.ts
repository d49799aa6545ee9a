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
 * refusal by the user's gives the conversation's token back. The user's send is one the room drew in advance when
 * it holds one, so most sends do not wait for the quota; the spending is reported once the reply has ended, which
 * draws the next advance. The advance is held in memory only: a restarted room asks, and the quota, which still
 * counts it, lets it spend it then.
 */
export class SendAllowance {
  private kept: Bucket | null = null;
  /** Until when the room holds a send drawn in advance. */
  private advanceUntil: number | null = null;
  /** Admissions so far: a late report does not hand out an advance a later send has already replaced. */
  private asked = 0;
  private lastReport: Promise<void> | null = null;

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

  /**
   * Takes one send for `userId` or throws rate_limited. Returns whether it spent the room's advance: if it did,
   * `report` must be called once its reply has ended.
   */
  async admit(userId: string): Promise<boolean> {
    const policy = this.policy();
    const mine = take(this.kept, policy, Date.now());
    if (!mine.ok) throw rateLimited(mine.retryAfter);
    this.kept = mine.bucket;
    const advance = this.advanceUntil;
    this.advanceUntil = null;
    this.asked++;
    if (advance !== null && Date.now() < advance - ADVANCE_MARGIN_MS) return true;
    const grant = await this.quotaOf(userId).take(this.room);
    if (grant.wait !== null) {
      const now = this.kept ?? mine.bucket;
      this.kept = { ...now, tokens: Math.min(policy.burst, now.tokens + 1) };
      throw rateLimited(grant.wait);
    }
    this.advanceUntil = grant.advanceUntil;
    return false;
  }

  /** Tells the quota a send spent the room's advance, and keeps the next one it draws (unless asked again since). */
  report(userId: string): Promise<void> {
    const asked = this.asked;
    const report = this.quotaOf(userId)
      .spent(this.room)
      .then((grant) => {
        if (this.asked === asked) this.advanceUntil = grant.advanceUntil;
      })
      .catch(() => undefined);
    this.lastReport = report;
    return report;
  }

  /** Settles when the last report has reached the quota. */
  reported(): Promise<void> {
    return this.lastReport ?? Promise.resolve();
  }
}

const rateLimited = (retryAfter: number) =>
  new ApiError('rate_limited', `too many messages; try again in ${retryAfter} s`, { retryAfter });
