import { DurableObject } from 'cloudflare:workers';
import { loadConfig } from '../config';
import { type Bucket, take } from './rate-limit';

/** How long a taken send may go unwritten: a burst of sends is one write, made off their path. */
const KEEP_AFTER_MS = 1_000;

/** One per user: the send allowance shared by all of the user's conversations. */
export class UserQuota extends DurableObject<Env> {
  private bucket: Bucket | null = null;
  private keeping: ReturnType<typeof setTimeout> | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      this.bucket = (await ctx.storage.get<Bucket>('bucket')) ?? null;
    });
  }

  /** Takes one send from the user's bucket: `null` when allowed, else the seconds to wait. */
  async take(): Promise<number | null> {
    const config = loadConfig(this.env);
    const policy = { perMinute: config.RATE_LIMIT_USER_PER_MINUTE, burst: config.RATE_LIMIT_USER_BURST };
    const result = take(this.bucket, policy, Date.now());
    this.bucket = result.bucket;
    // Written a moment later, not in this turn: a storage commit here would hold up the answer, and with it
    // every send. A crash in between forgets at most the last second's sends, which errs towards allowing.
    if (!this.keeping) this.keeping = setTimeout(() => this.keep(), KEEP_AFTER_MS);
    return result.ok ? null : result.retryAfter;
  }

  private keep(): void {
    this.keeping = null;
    if (this.bucket) this.ctx.storage.put('bucket', this.bucket, { allowUnconfirmed: true }).catch(() => undefined);
  }
}
