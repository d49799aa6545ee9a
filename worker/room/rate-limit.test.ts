import { describe, expect, it } from 'vitest';
import { take } from './rate-limit';

const policy = { perMinute: 20, burst: 5 };

describe('token bucket', () => {
  it('lets a burst through, then refuses with the wait until the next token', () => {
    let bucket = null;
    const t0 = 1_000_000;
    for (let i = 0; i < 5; i++) {
      const r = take(bucket, policy, t0);
      expect(r.ok).toBe(true);
      bucket = r.bucket;
    }
    const refused = take(bucket, policy, t0);
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.retryAfter).toBe(3);
    const later = take(refused.bucket, policy, t0 + 1_500);
    expect(later.ok).toBe(false);
    if (!later.ok) expect(later.retryAfter).toBe(2);
    expect(take(later.bucket, policy, t0 + 3_000).ok).toBe(true);
  });

  it('refills at the configured rate and never above the burst', () => {
    const empty = { tokens: 0, updatedAt: 0 };
    const r = take(empty, policy, 60_000);
    expect(r.ok).toBe(true);
    expect(r.bucket.tokens).toBe(4);
  });
});
