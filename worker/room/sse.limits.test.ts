import { describe, expect, it } from 'vitest';
import { client, eventually, testEnv, uniqueUser } from '../test-support';
import { type Conversation, ErrorEnvelope } from '../wire';

/** Reads a body to its end (or its error): the text received. */
async function readAll(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return text;
      text += decoder.decode(value, { stream: true });
    }
  } catch {
    return text;
  }
}

const replyEnded = (who: ReturnType<typeof client>, id: string) =>
  eventually(
    () => who.json<Conversation>('GET', `/conversations/${id}`),
    (c) => !c.streaming,
  );

// Runs with at most 3 live readers per conversation and 64 KiB of unread SSE per reader (vitest.config.ts).
describe('live SSE readers', () => {
  it('caps the live readers of a conversation like its sockets: 429 too_many_connections above, a slot frees when one is cut off', async () => {
    expect(testEnv.MAX_SSE_READERS_PER_CONVERSATION).toBe('3');
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const sending = await alice.sendStreaming(c.id, '!dev words=3000 delay_ms=5');
    expect(sending.status).toBe(200);
    const readers = [sending];
    for (let i = 0; i < 2; i++) {
      const res = await alice.call('GET', `/conversations/${c.id}/stream`);
      expect(res.status).toBe(200);
      readers.push(res);
    }
    const refused = await alice.call('GET', `/conversations/${c.id}/stream`);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(ErrorEnvelope.parse(await refused.json()).error.code).toBe('too_many_connections');

    // None of the three reads: each is cut off once 64 KiB wait for it, and its slot is free again.
    const admitted = await eventually(
      async () => {
        const res = await alice.call('GET', `/conversations/${c.id}/stream`);
        if (res.status !== 200) await res.body?.cancel();
        return res;
      },
      (res) => res.status === 200,
      40_000,
    );
    expect(admitted.status).toBe(200);
    for (const res of [...readers, admitted]) await res.body?.cancel();
    await alice.json('POST', `/conversations/${c.id}/stop`);
  }, 60_000);

  it('cuts off a reader that stops reading once 64 KiB wait unread, and the reply goes on for everyone else', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const res = await alice.sendStreaming(c.id, '!dev words=3500');
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    expect((await reader.read()).done).toBe(false);
    // The reader now reads nothing while ~380 KB of SSE are produced for it.
    await replyEnded(alice, c.id);
    // Cut off: the body ends without `[DONE]`, as a dropped connection does; the client resumes from its last id.
    const text = await readAll(reader);
    expect(text).not.toContain('data: [DONE]');
    const page = await alice.history(c.id);
    const reply = page.messages[1];
    expect(reply?.status).toBe('complete');
    expect(reply?.content.split(' ')).toHaveLength(3500);
    expect(text.length).toBeLessThan(3500 * 100);
  });
});
