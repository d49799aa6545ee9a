import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../errors';
import { uniqueUser } from '../test-support';
import { SendAllowance } from './send-allowance';

/**
 * The allowance against the real UserQuota object, with the limits project's user burst of 5 (vitest.config.ts).
 * Each test is its own room (a fresh id) and its own user.
 */
const allowance = (burst: number) =>
  new SendAllowance(
    crypto.randomUUID(),
    (userId) => env.QUOTAS.get(env.QUOTAS.idFromName(userId)),
    () => ({ perMinute: 1, burst }),
  );

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (err: unknown) => (err instanceof ApiError ? { code: err.code, retryAfter: err.retryAfter } : err),
  );

describe('SendAllowance', () => {
  it('refuses past the conversation’s burst with a wait, before asking the user’s quota', async () => {
    const room = allowance(2);
    const user = uniqueUser('alice');
    await room.admit(user);
    await room.admit(user);
    const refused = await refusal(room.admit(user));
    expect(refused).toMatchObject({ code: 'rate_limited' });
    expect((refused as { retryAfter: number }).retryAfter).toBeGreaterThanOrEqual(1);
  });

  it('spends a send drawn in advance without asking, after its first send asked', async () => {
    const room = allowance(100);
    const user = uniqueUser('alice');
    expect(await room.admit(user)).toBe(false);
    expect(await room.admit(user)).toBe(true);
    // Spending it was reported at once, and the answer is the next advance.
    await room.reported();
    expect(await room.admit(user)).toBe(true);
  });

  it('gives its advance back when the quota asks, unless a send has spent it and the quota has not heard yet', async () => {
    const room = allowance(100);
    const user = uniqueUser('alice');
    expect(await room.admit(user)).toBe(false);
    // Still held: given back, and the next send asks the quota again.
    expect(room.giveBack()).toBe(true);
    expect(await room.admit(user)).toBe(false);
    // Spent, its report on the way: not the quota's to lend.
    expect(await room.admit(user)).toBe(true);
    expect(room.giveBack()).toBe(false);
    await room.reported();
    expect(room.giveBack()).toBe(true);
  });

  it('gives the conversation’s token back when the user’s quota refuses', async () => {
    const room = allowance(100);
    const user = uniqueUser('alice');
    // The user's burst of 5: the first asks, and an advance is drawn after each send that can spare one.
    for (let i = 0; i < 5; i++) {
      await room.admit(user);
      await room.reported();
    }
    const before = room.bucket?.tokens ?? 0;
    expect(await refusal(room.admit(user))).toMatchObject({ code: 'rate_limited' });
    expect(room.bucket?.tokens ?? 0).toBeCloseTo(before, 1);
  });
});
