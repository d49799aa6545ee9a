import { abortAllDurableObjects, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { client, eventually, mustOpen, uniqueUser } from '../test-support';
import { ErrorEnvelope, type ServerFrame } from '../wire';

/** One JSON send in a conversation, read to its end. */
async function sendIn(who: ReturnType<typeof client>, conversationId: string): Promise<Response> {
  const r = await who.call('POST', '/messages', { body: { conversation_id: conversationId, content: '!dev words=1' } });
  await r.text();
  return r;
}

/**
 * Until the user quota has written down what it holds (it writes at most a second after a send, off the send's
 * path): what a restart would find in its storage is then what it knows.
 */
async function quotaWritten(userId: string): Promise<void> {
  const stub = env.QUOTAS.get(env.QUOTAS.idFromName(userId));
  const written = () =>
    runInDurableObject(stub, async (quota, state) => {
      const live = quota as unknown as { bucket: unknown; advances: Map<string, unknown> };
      const kept = await state.storage.get('bucket');
      return JSON.stringify(kept) === JSON.stringify({ bucket: live.bucket, advances: [...live.advances] });
    });
  expect(await eventually(written, Boolean, 5_000)).toBe(true);
}

// Runs with bursts of 5 per user and 3 per conversation (vitest.config.ts): the user's allowance outlasts one
// conversation's, so a refusal names the bucket it came from. One send a minute comes back: no test here runs
// long enough to see a refill, so none depends on how fast the machine is.
describe('rate limits', () => {
  it('lets exactly the burst of a 50-send burst through, per user across conversations', async () => {
    const alice = client(uniqueUser('alice'));
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        alice.call('POST', '/messages', { body: { content: `!dev words=1\nburst ${i}` } }),
      ),
    );
    const ok = results.filter((r) => r.status === 200);
    const limited = results.filter((r) => r.status === 429);
    expect(ok).toHaveLength(5);
    expect(limited).toHaveLength(45);
    for (const r of limited) {
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(ErrorEnvelope.parse(await r.json()).error.code).toBe('rate_limited');
    }
    await Promise.all(ok.map((r) => r.text()));
  });

  it('never lets more than the user’s burst through across conversations: parallel first sends, then follow-ups', async () => {
    const alice = client(uniqueUser('alice'));
    const conversations = await Promise.all(Array.from({ length: 8 }, () => alice.createConversation()));
    const round = async () => (await Promise.all(conversations.map((c) => sendIn(alice, c.id)))).map((r) => r.status);
    const statuses = [...(await round()), ...(await round())];
    // Each conversation has a burst of 3 of its own, so only the user's burst of 5 can refuse here.
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(11);
  });

  it('limits sequential sends in one conversation apart from the user, and does not count idempotent retries', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    for (let i = 0; i < 3; i++) {
      const r = await alice.call('POST', '/messages', {
        body: { conversation_id: c.id, content: '!dev words=1', client_message_id: `m${i}` },
      });
      expect(r.status).toBe(200);
      await r.text();
    }
    const sixth = await alice.call('POST', '/messages', { body: { conversation_id: c.id, content: 'one more' } });
    expect(sixth.status).toBe(429);
    expect(Number(sixth.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const retry = await alice.call('POST', '/messages', {
      body: { conversation_id: c.id, content: '!dev words=1', client_message_id: 'm0' },
    });
    expect(retry.status).toBe(200);
    // The refusal was the conversation's: the user still has sends left for another one.
    const elsewhere = await alice.call('POST', '/messages', { body: { content: '!dev words=1' } });
    expect(elsewhere.status).toBe(200);
    await Promise.all([retry.text(), elsewhere.text()]);
  });

  it('answers a WebSocket send over the limit with an error frame carrying retry_after', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const s = await mustOpen(c.id, alice.userId);
    const endOf = (fs: ServerFrame[], n: number) =>
      fs.filter((f) => f.type === 'message' && f.message.role === 'assistant' && f.message.status !== 'streaming')
        .length >= n;
    for (let i = 0; i < 3; i++) {
      s.send({ type: 'send', content: '!dev words=1', client_message_id: `ws-${i}` });
      await s.until((fs) => endOf(fs, i + 1));
    }
    s.send({ type: 'send', content: '!dev words=1', client_message_id: 'ws-over' });
    const err = await s.next('error');
    expect(err.code).toBe('rate_limited');
    expect(err.client_message_id).toBe('ws-over');
    expect(err.retry_after).toBeGreaterThanOrEqual(1);
    s.close();
  });

  it('remembers spent allowances across a restart, the conversation’s and the user’s each', async () => {
    const send = async (who: ReturnType<typeof client>, conversationId: string) =>
      (await sendIn(who, conversationId)).status;
    // Alice empties one conversation (3) but keeps 2 of her own; Bob empties his own 5 over two conversations.
    const alice = client(uniqueUser('alice'));
    const a = await alice.createConversation();
    const bob = client(uniqueUser('bob'));
    const [b1, b2] = [await bob.createConversation(), await bob.createConversation()];
    for (let i = 0; i < 3; i++) expect(await send(alice, a.id)).toBe(200);
    for (let i = 0; i < 3; i++) expect(await send(bob, b1.id)).toBe(200);
    for (let i = 0; i < 2; i++) expect(await send(bob, b2.id)).toBe(200);
    // The room writes its bucket with the send; the user quota a moment later.
    await quotaWritten(alice.userId);
    await quotaWritten(bob.userId);
    await abortAllDurableObjects();
    // Refused by the room: Alice herself has sends left, as her other conversation shows.
    expect(await send(alice, a.id)).toBe(429);
    expect(await send(alice, (await alice.createConversation()).id)).toBe(200);
    // Refused by the user quota: Bob's second conversation has a send left of its own.
    expect(await send(bob, b2.id)).toBe(429);
  });

  it('lends a send one conversation drew in advance to another rather than refuse it, once its holder gave it up', async () => {
    const alice = client(uniqueUser('alice'));
    const send = (conversationId: string) => sendIn(alice, conversationId);
    const [a, b, c] = [
      await alice.createConversation(),
      await alice.createConversation(),
      await alice.createConversation(),
    ];
    // Two in A: A then holds a send drawn in advance, so the bucket itself has 2 left.
    for (let i = 0; i < 2; i++) expect((await send(a.id)).status).toBe(200);
    // Three in B: the third finds the bucket empty and is given A's advance, which A gives up; the user has had 5.
    for (let i = 0; i < 3; i++) expect((await send(b.id)).status).toBe(200);
    expect((await send(c.id)).status).toBe(429);
    // A no longer holds it: its next send asks, and is refused like any other (before, it spent it too: 6 sends).
    const refused = await send(a.id);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(60);
  });

  it('takes back an advance its room forgot in a restart: the user keeps exactly the burst', async () => {
    const bob = client(uniqueUser('bob'));
    const send = async (conversationId: string) => (await sendIn(bob, conversationId)).status;
    const x = await bob.createConversation();
    expect(await send(x.id)).toBe(200);
    // Once the quota has written what it holds, both objects restart and X forgets its advance.
    await quotaWritten(bob.userId);
    await abortAllDurableObjects();
    expect(await send(x.id)).toBe(200);
    const others = [await bob.createConversation(), await bob.createConversation(), await bob.createConversation()];
    const statuses = [];
    for (const o of [...others, await bob.createConversation()]) statuses.push(await send(o.id));
    // 2 sent in X, so 3 more: the advance X drew before the restart was spent on its second send, not lost.
    expect(statuses).toEqual([200, 200, 200, 429]);
  });
});
