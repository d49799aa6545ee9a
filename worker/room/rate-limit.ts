/** A token bucket: `burst` tokens at most, refilled at `perMinute` a minute. Pure, so it can be stored as a row. */
export interface Bucket {
  tokens: number;
  updatedAt: number;
}

export interface BucketPolicy {
  perMinute: number;
  burst: number;
}

export type TakeResult = { ok: true; bucket: Bucket } | { ok: false; bucket: Bucket; retryAfter: number };

export function refill(bucket: Bucket | null, policy: BucketPolicy, now: number): Bucket {
  if (!bucket) return { tokens: policy.burst, updatedAt: now };
  const elapsed = Math.max(0, now - bucket.updatedAt);
  const tokens = Math.min(policy.burst, bucket.tokens + (elapsed * policy.perMinute) / 60_000);
  return { tokens, updatedAt: now };
}

/** Takes one token, or says in whole seconds (at least 1) when one will be there. */
export function take(bucket: Bucket | null, policy: BucketPolicy, now: number): TakeResult {
  const current = refill(bucket, policy, now);
  if (current.tokens >= 1) return { ok: true, bucket: { ...current, tokens: current.tokens - 1 } };
  const msPerToken = 60_000 / policy.perMinute;
  const retryAfter = Math.max(1, Math.ceil(((1 - current.tokens) * msPerToken) / 1000));
  return { ok: false, bucket: current, retryAfter };
}
