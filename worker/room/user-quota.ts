import { DurableObject } from 'cloudflare:workers';
import { loadConfig } from '../config';
import { type Bucket, take } from './rate-limit';

/** One per user: the send allowance shared by all of the user's conversations. */
export class UserQuota extends DurableObject<Env> {
  private bucket: Bucket | null = null;

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
    // Unconfirmed: the answer would otherwise wait for the write to be durable, on every send's path.
    this.ctx.storage.put('bucket', result.bucket, { allowUnconfirmed: true }).catch(() => undefined);
    return result.ok ? null : result.retryAfter;
  }
}
