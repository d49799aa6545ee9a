import { describe, expect, it } from 'vitest';
import { client, mustOpen, uniqueUser } from './test-support';
import { type Conversation, ErrorEnvelope } from './wire';

// Runs with a burst of 10 other writes per user and one a minute back (vitest.config.ts): no refill within a test.
describe('other writes per user', () => {
  it('admits the burst of creates, renames, deletes, tickets and stops together, then refuses each kind with 429', async () => {
    const alice = client(uniqueUser('alice'));
    const kept = await alice.createConversation('kept');
    const doomed = await alice.createConversation('doomed');
    await alice.json('PATCH', `/conversations/${kept.id}`, { body: { title: 'renamed' } });
    await alice.json('POST', '/ws-ticket', { body: { conversation_id: kept.id } });
    await alice.json('POST', `/conversations/${kept.id}/stop`);
    expect((await alice.call('DELETE', `/conversations/${doomed.id}`)).status).toBe(204);
    for (let i = 0; i < 4; i++) await alice.createConversation(`more ${i}`);

    const refused = [
      await alice.call('POST', '/conversations', { body: { title: 'one too many' } }),
      await alice.call('PATCH', `/conversations/${kept.id}`, { body: { title: 'not renamed' } }),
      await alice.call('DELETE', `/conversations/${kept.id}`),
      await alice.call('POST', `/conversations/${kept.id}/stop`),
      await alice.call('POST', '/ws-ticket', { body: { conversation_id: kept.id } }),
    ];
    for (const res of refused) {
      expect(res.status).toBe(429);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(ErrorEnvelope.parse(await res.json()).error.code).toBe('rate_limited');
    }
    // Nothing refused happened; reads and sends are not counted here.
    expect((await alice.json<Conversation>('GET', `/conversations/${kept.id}`)).title).toBe('renamed');
    expect((await alice.send(kept.id, '!dev words=2')).reply.status).toBe('complete');
    // Another user's bucket is their own.
    await client(uniqueUser('bob')).createConversation();
  });

  it('counts a WebSocket stop frame like POST /stop: refused with an error frame once the bucket is empty', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const socket = await mustOpen(c.id, alice.userId);
    try {
      for (let i = 0; i < 9; i++) expect((await alice.call('POST', `/conversations/${c.id}/stop`)).status).toBe(200);
      socket.send({ type: 'stop' });
      const error = await socket.next('error');
      expect(error.code).toBe('rate_limited');
      expect(error.retry_after).toBeGreaterThanOrEqual(1);
      // The socket stays usable.
      const seen = socket.frames.length;
      socket.send({ type: 'send', content: '!dev words=1', client_message_id: 'after-stop' });
      expect((await socket.next('message', seen)).message).toMatchObject({ client_message_id: 'after-stop' });
    } finally {
      socket.close();
    }
  });
});
