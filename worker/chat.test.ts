import { exports } from 'cloudflare:workers';
import { readUIMessageStream, type UIMessageChunk } from 'ai';
import { describe, expect, it } from 'vitest';
import { allEvents, client, firstEvents, ORIGIN, type SseEvent, sseEvents, uniqueUser, wordsOf } from './test-support';
import {
  API_BASE,
  type Conversation,
  ConversationList,
  ErrorEnvelope,
  type Message,
  MessagePage,
  SendResult,
} from './wire';

/** Reads an SSE reply until its first text-delta: from then on the reply is in flight in the room. */
async function inFlight(res: Response): Promise<{ messageId: string; rest: Promise<SseEvent[]> }> {
  const events = sseEvents(res);
  let messageId = '';
  for (;;) {
    const { value, done } = await events.next();
    if (done) throw new Error('the stream ended before its first text-delta');
    const chunk = JSON.parse(value.data) as { type: string; messageId?: string };
    if (chunk.type === 'start') messageId = chunk.messageId ?? '';
    if (chunk.type === 'text-delta') break;
  }
  const rest = (async () => {
    const out: SseEvent[] = [];
    for await (const e of events) out.push(e);
    return out;
  })();
  return { messageId, rest };
}

const chunkTypes = (events: SseEvent[]) =>
  events.map((e) => (e.data === '[DONE]' ? '[DONE]' : (JSON.parse(e.data) as { type: string }).type));

describe('conversations', () => {
  it('creates, gets, renames, lists newest first and deletes', async () => {
    const alice = client(uniqueUser('alice'));
    const first = await alice.createConversation();
    expect(first.title).toBe('New chat');
    expect(first.message_count).toBe(0);
    expect(first.last_message_at).toBe(first.created_at);
    const second = await alice.createConversation('Second');
    expect(second.title).toBe('Second');

    const renamed = await alice.json<Conversation>('PATCH', `/conversations/${first.id}`, {
      body: { title: '  Renamed  ' },
    });
    expect(renamed.title).toBe('Renamed');
    expect(renamed.last_message_at).toBe(first.last_message_at);

    const list = ConversationList.parse(await alice.json('GET', '/conversations'));
    expect(list.conversations.map((c) => c.id)).toEqual([second.id, first.id]);
    expect(list.conversations[1]?.title).toBe('Renamed');

    const got = await alice.json<Conversation>('GET', `/conversations/${first.id}`);
    expect(got.title).toBe('Renamed');

    const del = await alice.call('DELETE', `/conversations/${first.id}`);
    expect(del.status).toBe(204);
    for (const path of [`/conversations/${first.id}`, `/conversations/${first.id}/messages`]) {
      const res = await alice.call('GET', path);
      expect(res.status).toBe(404);
      expect(ErrorEnvelope.parse(await res.json()).error.code).toBe('not_found');
    }
    expect((await alice.call('DELETE', `/conversations/${first.id}`)).status).toBe(404);
    const after = ConversationList.parse(await alice.json('GET', '/conversations'));
    expect(after.conversations.map((c) => c.id)).toEqual([second.id]);
  });

  it('shows a second user none of the first user’s conversations', async () => {
    const alice = client(uniqueUser('alice'));
    const bob = client(uniqueUser('bob'));
    const c = await alice.createConversation('private');
    await alice.send(c.id, '!dev words=2');
    expect(ConversationList.parse(await bob.json('GET', '/conversations')).conversations).toEqual([]);
    for (const [method, path, body] of [
      ['GET', `/conversations/${c.id}`, undefined],
      ['GET', `/conversations/${c.id}/messages`, undefined],
      ['PATCH', `/conversations/${c.id}`, { title: 'mine now' }],
      ['POST', `/conversations/${c.id}/stop`, undefined],
      ['GET', `/conversations/${c.id}/stream`, undefined],
      ['DELETE', `/conversations/${c.id}`, undefined],
      ['POST', '/messages', { conversation_id: c.id, content: 'hi' }],
      ['POST', '/ws-ticket', { conversation_id: c.id }],
    ] as const) {
      const res = await bob.call(method, path, body === undefined ? {} : { body });
      expect(res.status, `${method} ${path}`).toBe(404);
    }
    expect((await alice.history(c.id)).messages).toHaveLength(2);
  });

  it('pages the list with a cursor', async () => {
    const alice = client(uniqueUser('alice'));
    const made: string[] = [];
    for (let i = 0; i < 5; i++) made.push((await alice.createConversation(`c${i}`)).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const page = ConversationList.parse(await alice.json('GET', `/conversations?limit=2${q}`));
      expect(page.conversations.length).toBeLessThanOrEqual(2);
      seen.push(...page.conversations.map((c) => c.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual([...made].reverse());
  });
});

describe('list defaults and bounds', () => {
  it('lists 20 conversations by default and up to 100 when asked, each with a cursor to the rest', async () => {
    const alice = client(uniqueUser('alice'));
    const made: string[] = [];
    for (let i = 0; i < 101; i++) made.push((await alice.createConversation(`c${i}`)).id);
    const newestFirst = [...made].reverse();
    const first = ConversationList.parse(await alice.json('GET', '/conversations'));
    expect(first.conversations.map((c) => c.id)).toEqual(newestFirst.slice(0, 20));
    expect(first.next_cursor).not.toBeNull();
    const hundred = ConversationList.parse(await alice.json('GET', '/conversations?limit=100'));
    expect(hundred.conversations.map((c) => c.id)).toEqual(newestFirst.slice(0, 100));
    const cursor = encodeURIComponent(hundred.next_cursor ?? '');
    const rest = ConversationList.parse(await alice.json('GET', `/conversations?limit=100&cursor=${cursor}`));
    expect(rest.conversations.map((c) => c.id)).toEqual(newestFirst.slice(100));
    expect(rest.next_cursor).toBeNull();
  }, 120_000);
});

describe('rename', () => {
  it('takes 1..200 code points after trimming and refuses anything else with 400, the title unchanged', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation('Before');
    const patch = (body: unknown) => alice.call('PATCH', `/conversations/${c.id}`, { body });
    for (const [name, body] of [
      ['empty', { title: '' }],
      ['white space only', { title: ' \n\t ' }],
      ['201 code points', { title: 'é'.repeat(201) }],
      ['201 emoji (402 UTF-16 units)', { title: '😀'.repeat(201) }],
      ['a number', { title: 42 }],
      ['null', { title: null }],
      ['an unknown field beside it', { title: 'ok', colour: 'red' }],
    ] as const) {
      const res = await patch(body);
      expect(res.status, name).toBe(400);
      expect(ErrorEnvelope.parse(await res.json()).error.code, name).toBe('invalid_request');
    }
    expect((await alice.json<Conversation>('GET', `/conversations/${c.id}`)).title).toBe('Before');
    const emoji = '😀'.repeat(200);
    const res = await patch({ title: `  ${emoji}  ` });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Conversation).title).toBe(emoji);
    expect((await alice.json<Conversation>('GET', `/conversations/${c.id}`)).title).toBe(emoji);
  });
});

describe('sending', () => {
  it('answers in JSON once the reply is done, titled from the first message', async () => {
    const alice = client(uniqueUser('alice'));
    const result = SendResult.parse(
      await alice.send(undefined, '!dev words=7\nWhat is the weather like on Mars today?'),
    );
    expect(result.message.seq).toBe(1);
    expect(result.reply.seq).toBe(2);
    expect(result.reply.reply_to).toBe(result.message.id);
    expect(result.reply.status).toBe('complete');
    expect(wordsOf(result.reply.content)).toHaveLength(7);
    expect(result.reply.parts.some((p) => p.type === 'text')).toBe(true);
    expect(typeof result.reply.metadata.ttft_ms).toBe('number');
    expect(typeof result.reply.metadata.duration_ms).toBe('number');
    expect(result.conversation.title).toBe('What is the weather like on Mars today?');
    expect(result.conversation.message_count).toBe(2);

    const again = SendResult.parse(await alice.send(result.conversation.id, '!dev words=3'));
    expect(again.message.seq).toBe(3);
    expect(again.conversation.title).toBe('What is the weather like on Mars today?');
    const page = await alice.history(result.conversation.id);
    expect(page.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4]);
  });

  it('keeps a title to 80 characters and lets a rename override it', async () => {
    const alice = client(uniqueUser('alice'));
    const long = 'word '.repeat(40);
    const r = await alice.send(undefined, long);
    expect([...r.conversation.title].length).toBeLessThanOrEqual(80);
    expect(r.conversation.title.startsWith('word word')).toBe(true);
    const renamed = await alice.json<Conversation>('PATCH', `/conversations/${r.conversation.id}`, {
      body: { title: 'Mine' },
    });
    expect(renamed.title).toBe('Mine');
    const next = await alice.send(r.conversation.id, 'another');
    expect(next.conversation.title).toBe('Mine');
  });

  it('runs the calculator tool and keeps its call and result in the parts', async () => {
    const alice = client(uniqueUser('alice'));
    const r = await alice.send(undefined, '!dev calc=6*7');
    expect(r.reply.status).toBe('complete');
    const tool = r.reply.parts.find((p) => p.type.startsWith('tool-')) as Record<string, unknown> | undefined;
    expect(tool).toBeDefined();
    expect(tool?.state).toBe('output-available');
    expect(JSON.stringify(tool?.output)).toContain('42');
    expect(r.reply.content).toContain('42');
  });

  it('is idempotent by client_message_id, even when the retry races the first send', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const body = { conversation_id: c.id, content: '!dev words=5 delay_ms=20', client_message_id: 'cm-1' };
    const [a, b] = await Promise.all([
      alice.json<{ message: Message; reply: Message }>('POST', '/messages', { body }),
      alice.json<{ message: Message; reply: Message }>('POST', '/messages', { body }),
    ]);
    expect(b.message.id).toBe(a.message.id);
    expect(b.reply.id).toBe(a.reply.id);
    expect(b.reply.content).toBe(a.reply.content);
    const page = await alice.history(c.id);
    expect(page.messages).toHaveLength(2);

    const mismatch = await alice.call('POST', '/messages', { body: { ...body, content: 'something else' } });
    expect(mismatch.status).toBe(409);
    expect(ErrorEnvelope.parse(await mismatch.json()).error.code).toBe('idempotency_mismatch');
  });

  it('lands a retried first send (no conversation_id) in the same conversation', async () => {
    const alice = client(uniqueUser('alice'));
    const body = { content: 'hello there', client_message_id: 'first-send' };
    const a = await alice.json<{ conversation: Conversation; message: Message }>('POST', '/messages', { body });
    const b = await alice.json<{ conversation: Conversation; message: Message }>('POST', '/messages', { body });
    expect(b.conversation.id).toBe(a.conversation.id);
    expect(b.message.id).toBe(a.message.id);
    expect(ConversationList.parse(await alice.json('GET', '/conversations')).conversations).toHaveLength(1);
  });

  it('refuses a second send while a reply streams', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const slow = await inFlight(await alice.sendStreaming(c.id, '!dev words=20 delay_ms=30'));
    const busy = await alice.call('POST', '/messages', { body: { conversation_id: c.id, content: 'too soon' } });
    expect(busy.status).toBe(409);
    expect(ErrorEnvelope.parse(await busy.json()).error.code).toBe('reply_in_progress');
    expect(chunkTypes(await slow.rest).slice(-2)).toEqual(['finish', '[DONE]']);
    expect((await alice.history(c.id)).messages.map((m) => m.status)).toEqual(['complete', 'complete']);
  });

  it('stops a reply, keeping its partial text with status stopped; its SSE stream ends with abort', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const pending = await inFlight(await alice.sendStreaming(c.id, '!dev words=200 delay_ms=20'));
    const stopped = await alice.json<{ stopped: boolean }>('POST', `/conversations/${c.id}/stop`);
    expect(stopped.stopped).toBe(true);
    const rest = await pending.rest;
    expect(chunkTypes(rest).slice(-2)).toEqual(['abort', '[DONE]']);
    const reply = (await alice.history(c.id)).messages[1] as Message;
    expect(reply.id).toBe(pending.messageId);
    expect(reply.status).toBe('stopped');
    const words = wordsOf(reply.content).length;
    expect(words).toBeGreaterThan(0);
    expect(words).toBeLessThan(200);
    expect((await alice.json<{ stopped: boolean }>('POST', `/conversations/${c.id}/stop`)).stopped).toBe(false);
  });

  it('ends the SSE stream of a failed reply with an error chunk, then [DONE]', async () => {
    const alice = client(uniqueUser('alice'));
    const events = await allEvents(await alice.sendStreaming(undefined, '!dev words=10 fail_after=2'));
    expect(chunkTypes(events).slice(-2)).toEqual(['error', '[DONE]']);
    const { errorText } = JSON.parse(events.at(-2)?.data ?? '{}') as { errorText?: string };
    expect(chunkTypes(events).filter((t) => t === 'text-delta')).toHaveLength(2);
    const start = JSON.parse(events[0]?.data ?? '{}') as { messageMetadata: { conversation_id: string } };
    const reply = (await alice.history(start.messageMetadata.conversation_id)).messages[1] as Message;
    expect(reply.status).toBe('error');
    expect(errorText).toBe((reply.metadata.error as { message: string }).message);
  });

  it('shows a reply in flight in the history with its text so far', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const pending = await inFlight(await alice.sendStreaming(c.id, '!dev words=60 delay_ms=15'));
    const page = await alice.history(c.id);
    const inflight = page.messages.find((m) => m.role === 'assistant');
    expect(inflight?.status).toBe('streaming');
    expect(wordsOf(inflight?.content ?? '').length).toBeGreaterThan(0);
    expect((await alice.json<Conversation>('GET', `/conversations/${c.id}`)).streaming).toBe(true);
    await pending.rest;
    expect((await alice.json<Conversation>('GET', `/conversations/${c.id}`)).streaming).toBe(false);
  });
});

describe('agent failures', () => {
  for (const [option, code] of [
    ['fail_after=3', 'agent_error'],
    ['cut_after=3', 'agent_cut'],
    ['hang_after=3', 'agent_timeout'],
  ] as const) {
    it(`keeps the partial text and the error when the agent ${option.split('=')[0]}`, async () => {
      const alice = client(uniqueUser('alice'));
      const r = await alice.send(undefined, `!dev words=10 ${option}`);
      expect(r.reply.status).toBe('error');
      expect(wordsOf(r.reply.content)).toHaveLength(3);
      const error = r.reply.metadata.error as { code: string; message: string };
      expect(error.code).toBe(code);
      expect(error.message.length).toBeGreaterThan(0);
      // The conversation keeps working after a failed reply.
      const next = await alice.send(r.conversation.id, '!dev words=2');
      expect(next.reply.status).toBe('complete');
    });
  }
});

describe('the agent’s history', () => {
  it('carries every ended message with parts, in order, failed replies included, ending with the new one', async () => {
    const alice = client(uniqueUser('alice'));
    const first = await alice.send(undefined, '!dev words=2');
    const id = first.conversation.id;
    await alice.send(id, '!dev words=5 fail_after=2');
    await alice.send(id, '!dev words=5 fail_after=0');
    await alice.send(id, '!dev calc=6*7');
    const inspected = await alice.send(id, '!dev inspect');
    const carried = /history=(\S+)/.exec(inspected.reply.content)?.[1]?.split(',');
    const stored = (await alice.history(id)).messages;
    const expected = stored
      .filter((m) => m.seq <= inspected.message.seq && m.status !== 'streaming' && m.parts.length > 0)
      .map((m) => m.id);
    expect(expected.length).toBeGreaterThanOrEqual(8);
    expect(carried).toEqual(expected);
    expect(carried?.at(-1)).toBe(inspected.message.id);
  });
});

describe('SSE', () => {
  it('speaks the UI message stream v1: headers, ids, start and finish, [DONE]', async () => {
    const alice = client(uniqueUser('alice'));
    const res = await alice.sendStreaming(undefined, '!dev words=4');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('x-vercel-ai-ui-message-stream')).toBe('v1');
    expect(res.headers.get('x-accel-buffering')).toBe('no');
    const events = await allEvents(res);
    const last = events.at(-1);
    expect(last).toEqual({ id: null, data: '[DONE]' });
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data) as { type: string; [k: string]: unknown });
    const start = chunks[0] as { type: string; messageId: string; messageMetadata: Record<string, string> };
    expect(start.type).toBe('start');
    expect(events.slice(0, -1).map((e) => e.id)).toEqual(chunks.map((_, i) => `${start.messageId}:${i}`));
    expect(start.messageMetadata.conversation_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(start.messageMetadata.user_message_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(chunks.at(-1)?.type).toBe('finish');
    expect(chunks.filter((c) => c.type === 'start' || c.type === 'finish')).toHaveLength(2);
    expect(chunks.filter((c) => c.type === 'text-delta')).toHaveLength(4);
  });

  it('is read by the ai package’s own client code into the stored reply, tool parts included', async () => {
    const alice = client(uniqueUser('alice'));
    const res = await alice.sendStreaming(undefined, '!dev calc=12*(3+4)');
    const events = sseEvents(res);
    const chunks = new ReadableStream<UIMessageChunk>({
      async pull(controller) {
        const { value, done } = await events.next();
        if (done || value.data === '[DONE]') controller.close();
        else controller.enqueue(JSON.parse(value.data) as UIMessageChunk);
      },
    });
    let last: Awaited<ReturnType<typeof readUIMessageStream>> extends AsyncIterable<infer M> ? M : never;
    for await (const m of readUIMessageStream({ stream: chunks })) last = m;
    // biome-ignore lint/style/noNonNullAssertion: the loop above ran at least once or the test fails below
    const message = last!;
    expect(message).toBeDefined();
    const start = (message.metadata ?? {}) as { conversation_id: string };
    const page = await alice.history(start.conversation_id);
    const stored = page.messages.find((m) => m.id === message.id) as Message;
    expect(stored.status).toBe('complete');
    const text = message.parts.filter((p) => p.type === 'text').map((p) => (p as { text: string }).text);
    expect(text.join('\n\n')).toBe(stored.content);
    expect(stored.content).toContain('84');
    const tool = message.parts.find((p) => p.type.startsWith('tool-')) as { state: string; output: unknown };
    expect(tool.state).toBe('output-available');
    expect(JSON.stringify(tool.output)).toContain('84');
    expect(stored.parts).toEqual(JSON.parse(JSON.stringify(message.parts)));
  });

  it('resumes with Last-Event-ID mid-reply: the rest, and no chunk twice', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const seen = await firstEvents(await alice.sendStreaming(c.id, '!dev words=40 delay_ms=15'), 8);
    const lastId = `${(JSON.parse(seen[0] ?? '{}') as { messageId: string }).messageId}:7`;
    const resumed = await alice.call('GET', `/conversations/${c.id}/stream`, { headers: { 'last-event-id': lastId } });
    expect(resumed.status).toBe(200);
    const rest = await allEvents(resumed);
    expect(rest[0]?.id).toBe(lastId.replace(/:7$/, ':8'));
    const all = [...seen, ...rest.map((e) => e.data)];
    expect(all.at(-1)).toBe('[DONE]');
    const chunks = all.slice(0, -1).map((d) => JSON.parse(d) as { type: string; delta?: string });
    const deltas = chunks.filter((x) => x.type === 'text-delta').map((x) => x.delta ?? '');
    expect(deltas).toHaveLength(40);
    const page = await alice.history(c.id);
    expect(deltas.join('')).toBe(page.messages[1]?.content);
    expect((await alice.call('GET', `/conversations/${c.id}/stream`)).status).toBe(204);
  });

  it('streams an idempotent retry again from index 0', async () => {
    const alice = client(uniqueUser('alice'));
    const streamed = async () =>
      (await allEvents(await alice.sendStreaming(undefined, '!dev words=3', 'sse-retry'))).map((e) =>
        JSON.parse(e.data === '[DONE]' ? 'null' : e.data),
      );
    const a = await streamed();
    const b = await streamed();
    const text = (xs: Array<{ type: string; delta?: string } | null>) =>
      xs
        .filter((x) => x?.type === 'text-delta')
        .map((x) => x?.delta)
        .join('');
    expect(text(b)).toBe(text(a));
    expect(b[0].messageId).toBe(a[0].messageId);
  });
});

describe('history', () => {
  it('pages 500 messages backwards and forwards with no gap or overlap', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    for (let i = 0; i < 250; i++) await alice.send(c.id, `!dev words=1\n${i}`);
    const newest = MessagePage.parse(await alice.json('GET', `/conversations/${c.id}/messages`));
    expect(newest.messages.map((m) => m.seq)).toEqual(Array.from({ length: 50 }, (_, i) => 451 + i));
    expect(newest.has_more).toBe(true);
    const back: number[] = [];
    let before = 501;
    for (;;) {
      const page = MessagePage.parse(
        await alice.json('GET', `/conversations/${c.id}/messages?limit=200&before_seq=${before}`),
      );
      back.unshift(...page.messages.map((m) => m.seq));
      if (!page.has_more) break;
      before = page.messages[0]?.seq ?? 0;
    }
    expect(back).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    const fwd: number[] = [];
    let after = 0;
    for (;;) {
      const page = MessagePage.parse(
        await alice.json('GET', `/conversations/${c.id}/messages?limit=73&after_seq=${after}`),
      );
      fwd.push(...page.messages.map((m) => m.seq));
      if (!page.has_more) break;
      after = page.messages.at(-1)?.seq ?? 0;
    }
    expect(fwd).toEqual(back);
  }, 120_000);
});

describe('bad input', () => {
  const cases: Array<[string, string, string, Record<string, string> | undefined, number]> = [
    ['malformed JSON', '/messages', '{"content": ', undefined, 400],
    ['not JSON content type', '/messages', '{"content":"x"}', { 'content-type': 'text/plain' }, 400],
    ['wrong type', '/messages', '{"content": 5}', undefined, 400],
    ['unknown field', '/messages', '{"content":"hi","extra":1}', undefined, 400],
    ['bad uuid', '/messages', '{"content":"hi","conversation_id":"nope"}', undefined, 400],
    ['empty content', '/messages', '{"content":""}', undefined, 400],
    ['white space only', '/messages', '{"content":"  \\n "}', undefined, 400],
    ['too long content', '/messages', JSON.stringify({ content: 'x'.repeat(32_001) }), undefined, 413],
    ['array body', '/conversations', '[]', undefined, 400],
    ['empty title', '/conversations', '{"title":"   "}', undefined, 400],
    ['long title', '/conversations', JSON.stringify({ title: 't'.repeat(201) }), undefined, 400],
  ];
  for (const [name, path, raw, headers, status] of cases) {
    it(`answers ${name} with ${status} in the envelope and writes nothing`, async () => {
      const alice = client(uniqueUser('alice'));
      const res = await alice.call('POST', path, {
        raw,
        headers: { 'content-type': 'application/json', ...headers },
      });
      expect(res.status).toBe(status);
      const body = ErrorEnvelope.parse(await res.json());
      expect(body.error.code).toBe(status === 413 ? 'payload_too_large' : 'invalid_request');
      expect(ConversationList.parse(await alice.json('GET', '/conversations')).conversations).toEqual([]);
    });
  }

  // 32,000 emoji written as JSON escapes (\ud83d\ude00, 12 bytes each): content the limit allows, in a body of 384 KB.
  const escapedEmoji = `{"content":"${'\\ud83d\\ude00'.repeat(32_000)}"}`;

  it('refuses a body over 256 KiB with 413 even when its content is within 32,000 code points', async () => {
    expect(JSON.parse(escapedEmoji).content).toHaveLength(64_000);
    expect(new TextEncoder().encode(escapedEmoji).byteLength).toBeGreaterThan(256 * 1024);
    const alice = client(uniqueUser('alice'));
    const res = await alice.call('POST', '/messages', {
      raw: escapedEmoji,
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(413);
    expect(ErrorEnvelope.parse(await res.json()).error.code).toBe('payload_too_large');
    expect(ConversationList.parse(await alice.json('GET', '/conversations')).conversations).toEqual([]);
  });

  it('refuses a body over 256 KiB sent without Content-Length (chunked) with 413', async () => {
    const alice = client(uniqueUser('alice'));
    const bytes = new TextEncoder().encode(escapedEmoji);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0; at < bytes.byteLength; at += 16 * 1024) controller.enqueue(bytes.slice(at, at + 16 * 1024));
        controller.close();
      },
    });
    const request = new Request(`${ORIGIN}${API_BASE}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await alice.token}`, 'content-type': 'application/json' },
      body,
    });
    expect(request.headers.get('content-length')).toBeNull();
    const res = await exports.default.fetch(request);
    expect(res.status).toBe(413);
    expect(ErrorEnvelope.parse(await res.json()).error.code).toBe('payload_too_large');
    expect(ConversationList.parse(await alice.json('GET', '/conversations')).conversations).toEqual([]);
  });

  for (const [kind, char] of [
    ['ASCII', 'a'],
    ['2-byte', 'é'],
    ['emoji (astral, two UTF-16 units)', '😀'],
  ] as const) {
    it(`accepts exactly 32,000 code points of ${kind} and refuses 32,001 with 413`, async () => {
      const alice = client(uniqueUser('alice'));
      const prefix = '!dev words=1\n';
      const exact = prefix + char.repeat(32_000 - prefix.length);
      expect([...exact]).toHaveLength(32_000);
      const r = await alice.send(undefined, exact);
      expect(r.message.content).toBe(exact);
      expect(r.reply.status).toBe('complete');

      const over = await alice.call('POST', '/messages', {
        body: { conversation_id: r.conversation.id, content: `${exact}${char}` },
      });
      expect(over.status).toBe(413);
      expect(ErrorEnvelope.parse(await over.json()).error.code).toBe('payload_too_large');
      expect((await alice.history(r.conversation.id)).messages).toHaveLength(2);
    });
  }

  it('rejects bad path ids and query parameters with 400', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    for (const path of [
      '/conversations/not-a-uuid',
      '/conversations/not-a-uuid/messages',
      `/conversations/${c.id}/messages?limit=0`,
      `/conversations/${c.id}/messages?limit=201`,
      `/conversations/${c.id}/messages?limit=abc`,
      `/conversations/${c.id}/messages?before_seq=3&after_seq=1`,
      `/conversations/${c.id}/messages?bogus=1`,
      '/conversations?limit=101',
      '/conversations?cursor=zzz',
    ]) {
      const res = await alice.call('GET', path);
      expect(res.status, path).toBe(400);
      expect(ErrorEnvelope.parse(await res.json()).error.code).toBe('invalid_request');
    }
    const unknown = await alice.call('GET', '/nope');
    expect(unknown.status).toBe(404);
    expect(ErrorEnvelope.parse(await unknown.json()).error.code).toBe('not_found');
  });
});
