import { describe, expect, it } from 'vitest';
import { client, mustOpen, testEnv, uniqueUser } from '../test-support';
import { ErrorEnvelope } from '../wire';

// The limits project bounds the agent's history at 4 KiB (dev/test-env.ts), so a few messages reach the bound.
const MAX_BYTES = Number(testEnv.AGENTCORE_HISTORY_MAX_BYTES);
const tooLarge = 'x'.repeat(MAX_BYTES);

describe('the agent history byte bound (AGENTCORE_HISTORY_MAX_BYTES) through the room', () => {
  it('is 4 KiB in this project', () => {
    expect(MAX_BYTES).toBe(4096);
  });

  it('sends the agent only the newest messages that fit, oldest dropped first, the new message last', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const first = await alice.send(c.id, `!dev words=1\nfirst ${'a'.repeat(1900)}`);
    const second = await alice.send(c.id, `!dev words=1\nsecond ${'b'.repeat(1900)}`);
    const inspected = await alice.send(c.id, '!dev inspect');
    const history = /history=(\S*)/.exec(inspected.reply.content)?.[1]?.split(',') ?? [];
    // inspect (~100 bytes), second's one-word reply, second (~2 KB) and first's reply fit; first (~2 KB more) does not.
    expect(history).toEqual([first.reply.id, second.message.id, second.reply.id, inspected.message.id]);
  });

  it('refuses a REST send whose message alone is over the bound with 413, storing nothing', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const r = await alice.call('POST', '/messages', {
      body: { conversation_id: c.id, content: tooLarge, client_message_id: 'big' },
    });
    expect(r.status).toBe(413);
    const { error } = ErrorEnvelope.parse(await r.json());
    expect(error.code).toBe('payload_too_large');
    expect(error.message).toMatch(/too large for the agent/);
    expect((await alice.history(c.id)).messages).toHaveLength(0);
    // A new conversation is not created by a refused first send either.
    const fresh = await alice.call('POST', '/messages', { body: { content: tooLarge } });
    expect(fresh.status).toBe(413);
    await fresh.text();
    const listed = await alice.json<{ conversations: unknown[] }>('GET', '/conversations');
    expect(listed.conversations).toHaveLength(1);
    // Nothing spent: the conversation's whole burst of 3 is still there, and only those sends are stored.
    for (let i = 0; i < 3; i++)
      expect((await alice.send(c.id, `!dev words=1\nafter ${i}`)).reply.status).toBe('complete');
    const { messages } = await alice.history(c.id);
    expect(messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(messages.some((m) => m.client_message_id === 'big')).toBe(false);
  });

  it('answers a WebSocket send over the bound with a payload_too_large error frame; the socket stays usable', async () => {
    const bob = client(uniqueUser('bob'));
    const c = await bob.createConversation();
    const socket = await mustOpen(c.id, bob.userId);
    try {
      socket.send({ type: 'send', content: tooLarge, client_message_id: 'big-frame' });
      const error = await socket.next('error');
      expect(error).toMatchObject({ code: 'payload_too_large', client_message_id: 'big-frame' });
      const seen = socket.frames.length;
      socket.send({ type: 'send', content: '!dev words=2', client_message_id: 'small' });
      const message = await socket.next('message', seen);
      expect(message.message).toMatchObject({ role: 'user', client_message_id: 'small', seq: 1 });
    } finally {
      socket.close();
    }
  });
});
