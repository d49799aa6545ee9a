import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { client, ORIGIN, uniqueUser } from './test-support';
import { ErrorEnvelope, ShareLink } from './wire';

const publicGet = (path: string, address: string) =>
  exports.default.fetch(new Request(`${ORIGIN}/api/v1/shared${path}`, { headers: { 'cf-connecting-ip': address } }));

describe('share links are rate-limited per client', () => {
  it('refuses a client past its burst with 429 and Retry-After, guesses and streams counted; others still read', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation('Limited');
    const link = ShareLink.parse(await alice.json('POST', `/conversations/${c.id}/share`));
    const address = `198.51.100.${Math.floor(Math.random() * 250)}`;
    // RATE_LIMIT_SHARED_BURST is 4 here: a guess and a stream spend the bucket like a read.
    expect((await publicGet(`/${link.share_id}`, address)).status).toBe(200);
    expect((await publicGet('/AAAAAAAAAAAAAAAAAAAAAA', address)).status).toBe(404);
    const stream = await publicGet(`/${link.share_id}/stream`, address);
    expect(stream.status).toBe(200);
    await stream.body?.cancel();
    expect((await publicGet(`/${link.share_id}`, address)).status).toBe(200);

    const refused = await publicGet(`/${link.share_id}`, address);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(ErrorEnvelope.parse(await refused.json()).error.code).toBe('rate_limited');
    expect((await publicGet(`/${link.share_id}/stream`, address)).status).toBe(429);

    expect((await publicGet(`/${link.share_id}`, `${address}0`)).status).toBe(200);
  });
});
