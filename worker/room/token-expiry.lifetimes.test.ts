/**
 * A socket lives until its token's expiry (SPEC §4): `exp`, or `iat` + AUTH_MAX_TOKEN_AGE_SECONDS (60 s in this
 * project) when that comes first; then an `error` frame token_expired and close 4401. Tokens that run out within
 * seconds, on the real clock.
 */
import { describe, expect, it } from 'vitest';
import { client, openSocket, TestSocket, testEnv, tokenFor, uniqueUser } from '../test-support';
import { PING_FRAME, WsTicket } from '../wire';

const now = () => Math.floor(Date.now() / 1000);

async function socketWith(conversationId: string, auth: { token?: string; ticket?: string }): Promise<TestSocket> {
  const headers: Record<string, string> = auth.token ? { authorization: `Bearer ${auth.token}` } : {};
  const s = await openSocket(conversationId, auth.ticket ? { ticket: auth.ticket } : {}, headers);
  if (!(s instanceof TestSocket)) throw new Error(`socket refused: ${s.status} ${await s.text()}`);
  await s.next('ready');
  // Pings as a client does: a silent socket is dropped after 2 s here (4408), which is not what these tests are about.
  const pinger = setInterval(() => {
    if (s.closed) clearInterval(pinger);
    else s.send(PING_FRAME);
  }, 400);
  return s;
}

/** Waits for the close, then checks it was the token's doing and came no earlier than `expiresAt` (seconds). */
async function expectExpiredAt(s: TestSocket, expiresAt: number): Promise<void> {
  const closed = await s.closedWith(20_000);
  expect(closed.code).toBe(4401);
  expect(Date.now()).toBeGreaterThanOrEqual(expiresAt * 1000);
  const last = s.frames.at(-1);
  expect(last?.type === 'error' && last.code).toBe('token_expired');
}

// Each test waits for a real expiry a few seconds off; on a loaded machine opening the socket alone can take seconds.
describe('token expiry on an open socket', { timeout: 60_000 }, () => {
  it('is 60 s of token age in this project', () => {
    expect(testEnv.AUTH_MAX_TOKEN_AGE_SECONDS).toBe('60');
  });

  it('closes a socket opened with a Bearer token with token_expired and 4401 when its exp passes', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const exp = now() + 5;
    const s = await socketWith(c.id, { token: await tokenFor(alice.userId, { exp }) });
    await expectExpiredAt(s, exp);
  });

  it('closes a socket opened with a ticket when the token that asked for the ticket expires', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const exp = now() + 8;
    const token = await tokenFor(alice.userId, { exp });
    const res = await alice.call('POST', '/ws-ticket', {
      body: { conversation_id: c.id },
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(200);
    const { ticket } = WsTicket.parse(await res.json());
    const s = await socketWith(c.id, { ticket });
    await expectExpiredAt(s, exp);
  });

  it('closes a socket at iat + AUTH_MAX_TOKEN_AGE_SECONDS when that comes before exp', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const iat = now() - 57;
    const s = await socketWith(c.id, { token: await tokenFor(alice.userId, { iat, exp: iat + 3600 }) });
    await expectExpiredAt(s, iat + 60);
  });

  it('leaves a socket whose token is still good open', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const short = await socketWith(c.id, { token: await tokenFor(alice.userId, { exp: now() + 3 }) });
    const long = await socketWith(c.id, { token: await tokenFor(alice.userId) });
    expect((await short.closedWith(20_000)).code).toBe(4401);
    const pongs = long.frames.filter((f) => f.type === 'pong').length;
    await long.until((fs) => fs.filter((f) => f.type === 'pong').length > pongs + 2);
    expect(long.closed).toBeNull();
    expect(long.frames.some((f) => f.type === 'error')).toBe(false);
    long.close();
  });
});
