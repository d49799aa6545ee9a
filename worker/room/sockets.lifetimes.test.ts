/**
 * Lifetimes seen through the API, with short ones configured (vitest.config.ts, project `lifetimes`): tickets
 * last 1 s and a socket that has not pinged for 2 s is dropped. Time is the subject here, and the clock is the
 * real one: no storage edited, no sweep called with a made-up time.
 */
import { describe, expect, it } from 'vitest';
import { client, mustOpen, openSocket, TestSocket, uniqueUser } from '../test-support';
import { ErrorEnvelope, PING_FRAME, WsTicket } from '../wire';

const sleepUntil = (at: number) => new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())));

describe('socket lifetimes', () => {
  it('refuses a ticket once its lifetime has passed, and takes a fresh one', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const stale = WsTicket.parse(await alice.json('POST', '/ws-ticket', { body: { conversation_id: c.id } }));
    // The room stamped the ticket before it answered: its lifetime is over a second after the answer.
    const answeredAt = Date.now();
    expect(stale.expires_in).toBe(1);
    await sleepUntil(answeredAt + stale.expires_in * 1000 + 50);
    const refused = (await openSocket(c.id, { ticket: stale.ticket })) as Response;
    expect(refused.status).toBe(401);
    expect(ErrorEnvelope.parse(await refused.json()).error.code).toBe('unauthorized');

    const fresh = WsTicket.parse(await alice.json('POST', '/ws-ticket', { body: { conversation_id: c.id } }));
    const ok = await openSocket(c.id, { ticket: fresh.ticket });
    expect(ok).toBeInstanceOf(TestSocket);
    (ok as TestSocket).close();
  });

  it('drops a socket whose client stopped pinging with 4408, and keeps one that pings', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const silent = await mustOpen(c.id, alice.userId);
    const pinging = await mustOpen(c.id, alice.userId);
    // The client's own heartbeat, at a fifth of the timeout: the auto-response answers it, the room is not woken.
    const heartbeat = setInterval(() => pinging.ws.send(PING_FRAME), 400);
    try {
      expect((await silent.closedWith(15_000)).code).toBe(4408);
      expect(pinging.closed).toBeNull();
      const pongs = pinging.frames.filter((f) => f.type === 'pong').length;
      expect(pongs).toBeGreaterThan(0);
      pinging.send({ type: 'ping' });
      await pinging.until((fs) => fs.filter((f) => f.type === 'pong').length > pongs);
    } finally {
      clearInterval(heartbeat);
    }
    // Silent from now on, it goes the same way.
    expect((await pinging.closedWith(15_000)).code).toBe(4408);
  });
});
