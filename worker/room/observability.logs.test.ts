import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { client, eventually, mustOpen, uniqueUser } from '../test-support';
import { tokensOf } from './replies';

/** Every JSON line the Worker and the rooms log while a test runs (they share this isolate's console). */
let lines: Record<string, unknown>[] = [];

beforeEach(() => {
  lines = [];
  for (const level of ['log', 'warn', 'error'] as const) {
    vi.spyOn(console, level).mockImplementation((line: unknown) => {
      try {
        lines.push(JSON.parse(String(line)) as Record<string, unknown>);
      } catch {
        // Not one of ours.
      }
    });
  }
});

afterEach(() => {
  vi.restoreAllMocks();
});

const logged = (msg: string, where: (line: Record<string, unknown>) => boolean = () => true) =>
  eventually(
    async () => lines.filter((l) => l.msg === msg && where(l)),
    (found) => found.length > 0,
    20_000,
  );

describe('the reply line', () => {
  it('is one JSON line per reply with who, how it ended, how soon and how much, and the request id', async () => {
    const alice = client(uniqueUser('alice'));
    const res = await alice.call('POST', '/messages', {
      body: { content: '!dev words=12' },
      headers: { 'x-request-id': 'req-reply-line' },
    });
    expect(res.status).toBe(200);
    const { conversation, reply } = (await res.json()) as { conversation: { id: string }; reply: { id: string } };
    const [line, ...more] = await logged('reply', (l) => l.message_id === reply.id);
    expect(more).toEqual([]);
    expect(line).toMatchObject({
      level: 'info',
      conversation_id: conversation.id,
      user_id: alice.userId,
      status: 'complete',
      request_id: 'req-reply-line',
      trace_id: expect.stringMatching(/^[0-9a-f]{32}$/),
    });
    for (const field of ['ttft_ms', 'duration_ms', 'chunks', 'bytes']) {
      expect(typeof line?.[field], field).toBe('number');
    }
    // start, metadata, text-start, 12 deltas, text-end, finish at least; each chunk's JSON is tens of bytes.
    expect(line?.chunks).toBeGreaterThanOrEqual(16);
    expect(line?.bytes).toBeGreaterThan(16 * 20);
    expect(line?.ttft_ms as number).toBeLessThanOrEqual(line?.duration_ms as number);
  });

  it('says error and the code when the agent fails', async () => {
    const alice = client(uniqueUser('alice'));
    const { reply } = await alice.send(undefined, '!dev status=500');
    expect(reply.status).toBe('error');
    const [line] = await logged('reply', (l) => l.message_id === reply.id);
    expect(line).toMatchObject({ level: 'warn', status: 'error', code: expect.any(String), ttft_ms: null });
  });

  it('counts the tokens when the agent reports usage, by either naming', () => {
    expect(tokensOf({ inputTokens: 7, outputTokens: 5 })).toEqual({ input_tokens: 7, output_tokens: 5, tokens: 12 });
    expect(tokensOf({ prompt_tokens: 3, completion_tokens: 4, total_tokens: 9 })).toEqual({
      input_tokens: 3,
      output_tokens: 4,
      tokens: 9,
    });
    expect(tokensOf(undefined)).toEqual({});
  });
});

describe('WebSocket lines', () => {
  it('logs a connect, and a close with its code, who closed it and how long it was open', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const s = await mustOpen(c.id, alice.userId);
    const [connect] = await logged('ws connect', (l) => l.conversation_id === c.id);
    expect(connect).toMatchObject({ user_id: alice.userId, request_id: expect.any(String), open: 1 });
    s.ws.close(4000, 'leaving');
    const [close] = await logged('ws close', (l) => l.conversation_id === c.id);
    expect(close).toMatchObject({ code: 4000, by: 'client', user_id: alice.userId, open: 0 });
    expect(typeof close?.duration_ms).toBe('number');
  });

  it('logs a close the room makes once, with its code', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const s = await mustOpen(c.id, alice.userId);
    s.ws.send(new Uint8Array([1, 2, 3]));
    expect((await s.closedWith()).code).toBe(1003);
    const [close] = await logged('ws close', (l) => l.conversation_id === c.id);
    expect(close).toMatchObject({ code: 1003, by: 'room' });
    // The client's answer to the room's close is not a second close.
    await alice.json('GET', `/conversations/${c.id}`);
    expect(lines.filter((l) => l.msg === 'ws close' && l.conversation_id === c.id)).toHaveLength(1);
  });

  it('gives a send over a socket a request id of its own, on the reply line and at the agent', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const s = await mustOpen(c.id, alice.userId);
    const [connect] = await logged('ws connect', (l) => l.conversation_id === c.id);
    s.send({ type: 'send', content: '!dev inspect', client_message_id: 'ws-inspect' });
    const done = await s.until((frames) =>
      frames.some((f) => f.type === 'message' && f.message.role === 'assistant' && f.message.status !== 'streaming'),
    );
    s.close();
    const final = done.find(
      (f) => f.type === 'message' && f.message.role === 'assistant' && f.message.status !== 'streaming',
    );
    if (final?.type !== 'message') throw new Error('no final reply');
    const [line] = await logged('reply', (l) => l.message_id === final.message.id);
    expect(line?.request_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(line?.request_id).not.toBe(connect?.request_id);
    // The agent was given the same id, and a span of the socket's trace.
    expect(final.message.content).toContain(` request_id=${line?.request_id} `);
    expect(line?.trace_id).toBe(connect?.trace_id);
  });
});
