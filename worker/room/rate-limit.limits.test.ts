import { abortAllDurableObjects } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { client, mustOpen, uniqueUser } from '../test-support';
import { ErrorEnvelope, type ServerFrame } from '../wire';

// Runs with the default limits: 20 sends a minute, bursts of 5, per user and per conversation.
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

  it('limits sequential sends in one conversation, and does not count idempotent retries', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    for (let i = 0; i < 5; i++) {
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
  });

  it('answers a WebSocket send over the limit with an error frame carrying retry_after', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const s = await mustOpen(c.id, alice.userId);
    const endOf = (fs: ServerFrame[], n: number) =>
      fs.filter((f) => f.type === 'message' && f.message.role === 'assistant' && f.message.status !== 'streaming')
        .length >= n;
    for (let i = 0; i < 5; i++) {
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

  it('remembers spent allowances across a restart of the room and of the user quota', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    for (let i = 0; i < 5; i++) {
      const r = await alice.call('POST', '/messages', { body: { conversation_id: c.id, content: '!dev words=1' } });
      expect(r.status).toBe(200);
      await r.text();
    }
    // The user quota writes its bucket at most a second after a send; the room writes its own with the send.
    await new Promise((r) => setTimeout(r, 1_200));
    await abortAllDurableObjects();
    const sameRoom = await alice.call('POST', '/messages', { body: { conversation_id: c.id, content: 'again' } });
    expect(sameRoom.status).toBe(429);
    const other = await alice.createConversation();
    const otherRoom = await alice.call('POST', '/messages', { body: { conversation_id: other.id, content: 'again' } });
    expect(otherRoom.status).toBe(429);
    await Promise.all([sameRoom.text(), otherRoom.text()]);
  });
});
