import { abortAllDurableObjects, runInDurableObject } from 'cloudflare:test';
import { env, exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import {
  allEvents,
  client,
  eventually,
  firstEvents,
  mustOpen,
  ORIGIN,
  openSocket,
  sseEvents,
  TestSocket,
  uniqueUser,
} from '../test-support';
import { API_BASE, ErrorEnvelope, type Message, PING_FRAME, PONG_FRAME, type ServerFrame, WsTicket } from '../wire';

type ChunkFrame = Extract<ServerFrame, { type: 'chunk' }>;
type MessageFrame = Extract<ServerFrame, { type: 'message' }>;

const chunksOf = (frames: ServerFrame[], messageId: string) =>
  frames.filter((f): f is ChunkFrame => f.type === 'chunk' && f.message_id === messageId);
const textOf = (chunks: ChunkFrame[]) =>
  chunks
    .filter((f) => f.chunk.type === 'text-delta')
    .map((f) => String(f.chunk.delta))
    .join('');
const isEnd = (f: ServerFrame, id: string) =>
  f.type === 'message' && f.message.id === id && f.message.status !== 'streaming';
const finalOf = (frames: ServerFrame[], id: string) =>
  (frames.find((f) => isEnd(f, id)) as MessageFrame | undefined)?.message;

async function replyStarted(socket: TestSocket, after = 0): Promise<Message> {
  await socket.until((fs) => fs.slice(after).some((f) => f.type === 'message' && f.message.role === 'assistant'));
  return (
    socket.frames.slice(after).find((f) => f.type === 'message' && f.message.role === 'assistant') as MessageFrame
  ).message;
}

describe('WebSocket fan-out', () => {
  it('gives two sockets identical chunk sequences for a reply sent from a third client', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const [a, b] = [await mustOpen(c.id, alice.userId), await mustOpen(c.id, alice.userId)];
    const sent = await alice.send(c.id, '!dev words=30 delay_ms=2');
    const id = sent.reply.id;
    await a.until((fs) => fs.some((f) => isEnd(f, id)));
    await b.until((fs) => fs.some((f) => isEnd(f, id)));
    const [ca, cb] = [chunksOf(a.frames, id), chunksOf(b.frames, id)];
    expect(ca.map((f) => f.index)).toEqual(ca.map((_, i) => i));
    expect(cb).toEqual(ca);
    expect(ca[0]?.chunk.type).toBe('start');
    expect(ca.at(-1)?.chunk.type).toBe('finish');
    expect(textOf(ca)).toBe(sent.reply.content);
    // Both sockets were told of the user's message and of the reply's start and end.
    for (const s of [a, b]) {
      const messages = s.frames.filter((f): f is MessageFrame => f.type === 'message').map((f) => f.message);
      expect(messages.map((m) => [m.role, m.status])).toEqual([
        ['user', 'complete'],
        ['assistant', 'streaming'],
        ['assistant', 'complete'],
      ]);
    }
    a.close();
    b.close();
  });

  it('sends a socket a reply already in flight only after it asks to resume', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const watcher = await mustOpen(c.id, alice.userId);
    const pending = alice.send(c.id, '!dev words=40 delay_ms=10');
    const reply = await replyStarted(watcher);
    await watcher.until((fs) => chunksOf(fs, reply.id).length >= 5);

    const late = await openSocket(c.id, { userId: alice.userId });
    if (!(late instanceof TestSocket)) throw new Error('refused');
    const ready = await late.next('ready');
    expect(ready.streaming?.message_id).toBe(reply.id);
    const at = ready.streaming?.next_index ?? 0;
    expect(at).toBeGreaterThan(0);
    // The watcher gets chunks produced after the late socket connected; then a ping the room itself answers
    // (not the auto-response: a space makes it another frame) comes back to the late socket after anything
    // the room had sent it before. Only the pong arrives.
    await watcher.until((fs) => chunksOf(fs, reply.id).some((f) => f.index >= at + 2));
    late.send('{"type": "ping"}');
    await late.next('pong');
    expect(chunksOf(late.frames, reply.id)).toEqual([]);

    // Resume from an index that does not exist yet: it must wait for it, not say "nothing in flight".
    late.send({ type: 'resume', message_id: reply.id, from_index: at + 3 });
    await late.until((fs) => fs.some((f) => isEnd(f, reply.id)));
    const got = chunksOf(late.frames, reply.id);
    expect(got[0]?.index).toBe(at + 3);
    expect(got.map((f) => f.index)).toEqual(got.map((_, i) => at + 3 + i));
    expect(late.frames.some((f) => f.type === 'error')).toBe(false);
    const done = await pending;
    expect(got.at(-1)?.chunk.type).toBe('finish');
    expect(chunksOf(watcher.frames, reply.id).length).toBe((got.at(-1)?.index ?? -1) + 1);
    expect(done.reply.status).toBe('complete');

    // After the end, a resume is answered with the final message; an unknown id with not_found.
    const before = late.frames.length;
    late.send({ type: 'resume', message_id: reply.id, from_index: 0 });
    const final = await late.next('message', before);
    expect(final.message.id).toBe(reply.id);
    expect(final.message.status).toBe('complete');
    expect(final.message.content).toBe(done.reply.content);
    late.send({ type: 'resume', message_id: crypto.randomUUID(), from_index: 0 });
    expect((await late.next('error', before)).code).toBe('not_found');
    watcher.close();
    late.close();
  });

  it('rebuilds exactly the stored text from 200 random disconnect and resume points', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const WORDS = 80;
    let checked = 0;
    for (let round = 0; round < 10; round++) {
      const first = await Promise.all(Array.from({ length: 20 }, () => mustOpen(c.id, alice.userId)));
      const cuts = first.map(() => 1 + Math.floor(Math.random() * (WORDS + 2)));
      const pending = alice.send(c.id, `!dev words=${WORDS} delay_ms=3`);
      const reply = await replyStarted(first[0] as TestSocket);
      const outcomes = await Promise.all(
        first.map(async (s, k) => {
          const cut = cuts[k] ?? 1;
          await s.until((fs) => chunksOf(fs, reply.id).length >= cut || fs.some((f) => isEnd(f, reply.id)));
          const kept = chunksOf(s.frames, reply.id).slice(0, cut);
          s.close();
          const next = await mustOpen(c.id, alice.userId);
          next.send({ type: 'resume', message_id: reply.id, from_index: kept.length });
          await next.until((fs) => fs.some((f) => isEnd(f, reply.id)));
          const rest = chunksOf(next.frames, reply.id);
          next.close();
          return { kept, rest, final: finalOf(next.frames, reply.id) };
        }),
      );
      const stored = (await pending).reply;
      for (const { kept, rest, final } of outcomes) {
        const indices = [...kept, ...rest].map((f) => f.index);
        if (rest.length > 0) {
          // Live re-sync: every index once, in order, from 0 to the end.
          expect(indices).toEqual(indices.map((_, i) => i));
          expect(textOf([...kept, ...rest])).toBe(stored.content);
        } else {
          // The reply ended before the resume: the final message carries the text.
          expect(final?.content).toBe(stored.content);
        }
        checked++;
      }
    }
    expect(checked).toBe(200);
  }, 120_000);
});

describe('the ready frame', () => {
  it('carries the conversation, last_seq and the reply in flight', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const empty = await mustOpen(c.id, alice.userId);
    const first = await empty.next('ready');
    expect(first.last_seq).toBe(0);
    expect(first.streaming).toBeNull();
    expect(first.conversation.id).toBe(c.id);
    empty.close();

    await alice.send(c.id, '!dev words=2');
    await alice.send(c.id, '!dev words=2');
    const later = await mustOpen(c.id, alice.userId);
    const ready = await later.next('ready');
    expect(ready.last_seq).toBe(4);
    expect(ready.conversation.message_count).toBe(4);
    later.close();
  });
});

describe('WebSocket frames', () => {
  it('answers bad frames with error frames and keeps the socket working', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const s = await mustOpen(c.id, alice.userId);
    const bad: Array<[string, string]> = [
      ['not json', 'invalid_frame'],
      ['{"type":"dance"}', 'invalid_frame'],
      ['{"type":"send","content":"hi"}', 'invalid_frame'],
      ['{"type":"send","content":42,"client_message_id":"x"}', 'invalid_frame'],
      ['{"type":"resume","message_id":"nope","from_index":0}', 'invalid_frame'],
      ['{"type":"send","content":"","client_message_id":"e"}', 'invalid_frame'],
      [JSON.stringify({ type: 'send', content: 'y'.repeat(32_001), client_message_id: 'big' }), 'payload_too_large'],
    ];
    for (const [frame, code] of bad) {
      const before = s.frames.length;
      s.send(frame);
      const err = await s.next('error', before);
      expect(err.code, frame.slice(0, 40)).toBe(code);
    }
    const tooLong = s.frames.filter((f) => f.type === 'error').at(-1) as Extract<ServerFrame, { type: 'error' }>;
    expect(tooLong.client_message_id).toBe('big');

    s.ws.send(PING_FRAME);
    await s.until((fs) => fs.some((f) => f.type === 'pong'));
    const before = s.frames.length;
    s.send({ type: 'send', content: '!dev words=3', client_message_id: 'ok-1' });
    const reply = await replyStarted(s, before);
    await s.until((fs) => fs.some((f) => isEnd(f, reply.id)));
    expect(finalOf(s.frames, reply.id)?.status).toBe('complete');
    s.close();
  });

  it('answers a ping with the exact pong bytes', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const s = await mustOpen(c.id, alice.userId);
    const raw: string[] = [];
    s.ws.addEventListener('message', (e) => raw.push(String(e.data)));
    s.ws.send(PING_FRAME);
    await s.until((fs) => fs.some((f) => f.type === 'pong'));
    expect(raw).toContain(PONG_FRAME);
    s.close();
  });

  it('closes on a binary frame with 1003 and on a frame over 256 KiB with 1009', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const a = await mustOpen(c.id, alice.userId);
    a.ws.send(new Uint8Array([1, 2, 3]));
    expect((await a.closedWith()).code).toBe(1003);
    const b = await mustOpen(c.id, alice.userId);
    b.ws.send(JSON.stringify({ type: 'send', content: 'z'.repeat(270_000), client_message_id: 'huge' }));
    expect((await b.closedWith()).code).toBe(1009);
  });

  it('answers the client’s close handshake', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const s = await mustOpen(c.id, alice.userId);
    s.ws.close(1000, 'bye');
    expect((await s.closedWith()).code).toBe(1000);
  });

  it('sends a stop over the socket', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const s = await mustOpen(c.id, alice.userId);
    s.send({ type: 'send', content: '!dev words=300 delay_ms=10', client_message_id: 'long' });
    const reply = await replyStarted(s);
    await s.until((fs) => chunksOf(fs, reply.id).length > 5);
    s.send({ type: 'stop' });
    await s.until((fs) => fs.some((f) => isEnd(f, reply.id)));
    const final = finalOf(s.frames, reply.id);
    expect(final?.status).toBe('stopped');
    expect(chunksOf(s.frames, reply.id).at(-1)?.chunk.type).toBe('abort');
    expect(final?.content).toBe(textOf(chunksOf(s.frames, reply.id)));
    s.close();
  });

  it('tells every socket of a failed reply: its error chunk, then the reply as error with the text so far', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const [a, b] = [await mustOpen(c.id, alice.userId), await mustOpen(c.id, alice.userId)];
    const sent = await alice.send(c.id, '!dev words=10 fail_after=4');
    expect(sent.reply.status).toBe('error');
    const id = sent.reply.id;
    for (const s of [a, b]) {
      await s.until((fs) => fs.some((f) => isEnd(f, id)));
      const final = finalOf(s.frames, id);
      expect(final?.status).toBe('error');
      expect(final?.metadata.error).toMatchObject({
        code: 'agent_error',
        message: expect.stringContaining('fail_after'),
      });
      expect(final?.content).toBe(sent.reply.content);
      expect(textOf(chunksOf(s.frames, id))).toBe(sent.reply.content);
      expect(chunksOf(s.frames, id).at(-1)?.chunk).toMatchObject({ type: 'error', errorText: expect.any(String) });
    }
    expect(sent.reply.content.split(' ').filter(Boolean)).toHaveLength(4);
    a.close();
    b.close();
  });

  it('answers a send while a reply streams with a reply_in_progress frame naming it, and stores nothing of it', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const s = await mustOpen(c.id, alice.userId);
    s.send({ type: 'send', content: '!dev words=200 delay_ms=10', client_message_id: 'first' });
    const reply = await replyStarted(s);
    await s.until((fs) => chunksOf(fs, reply.id).length > 3);
    const before = s.frames.length;
    s.send({ type: 'send', content: 'too soon', client_message_id: 'second' });
    const refused = await s.next('error', before);
    expect(refused).toMatchObject({ code: 'reply_in_progress', client_message_id: 'second' });
    s.send({ type: 'stop' });
    await s.until((fs) => fs.some((f) => isEnd(f, reply.id)));
    const stored = (await alice.history(c.id)).messages;
    expect(stored.map((m) => m.client_message_id)).toEqual(['first', null]);
    expect(stored.some((m) => m.content === 'too soon')).toBe(false);
    s.close();
  });

  it('broadcasts a rename, and a delete closes every socket with 4404', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const [a, b] = [await mustOpen(c.id, alice.userId), await mustOpen(c.id, alice.userId)];
    await alice.json('PATCH', `/conversations/${c.id}`, { body: { title: 'Renamed live' } });
    for (const s of [a, b]) expect((await s.next('conversation')).conversation.title).toBe('Renamed live');
    await alice.call('DELETE', `/conversations/${c.id}`);
    for (const s of [a, b]) {
      await s.until((fs) => fs.some((f) => f.type === 'deleted'), 5_000).catch(() => s.frames);
      expect(s.frames.some((f) => f.type === 'deleted')).toBe(true);
      expect((await s.closedWith()).code).toBe(4404);
    }
  });
});

describe('WebSocket admission', () => {
  it('takes a single-use ticket bound to the user and the conversation', async () => {
    const alice = client(uniqueUser('alice'));
    const bob = client(uniqueUser('bob'));
    const c = await alice.createConversation();
    const mine = WsTicket.parse(await alice.json('POST', '/ws-ticket', { body: { conversation_id: c.id } }));
    expect(mine.expires_in).toBeLessThanOrEqual(60);
    const ok = await openSocket(c.id, { ticket: mine.ticket });
    expect(ok).toBeInstanceOf(TestSocket);
    (ok as TestSocket).close();

    const replay = await openSocket(c.id, { ticket: mine.ticket });
    expect(replay).toBeInstanceOf(Response);
    expect((replay as Response).status).toBe(401);
    expect(ErrorEnvelope.parse(await (replay as Response).json()).error.code).toBe('unauthorized');

    const bc = await bob.createConversation();
    const bobs = WsTicket.parse(await bob.json('POST', '/ws-ticket', { body: { conversation_id: bc.id } }));
    const foreign = (await openSocket(c.id, { ticket: bobs.ticket })) as Response;
    expect(foreign.status).toBe(401);
    // Bob's ticket was used up by that attempt, whatever its outcome.
    expect(((await openSocket(bc.id, { ticket: bobs.ticket })) as Response).status).toBe(401);

    // An expired ticket: sockets.lifetimes.test.ts, with 1 s tickets.
    expect(((await openSocket(c.id, {})) as Response).status).toBe(401);
  });

  it('uses a ticket up on any refused attempt: no upgrade header, a bad id, a bad token beside it', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const ticket = async () =>
      WsTicket.parse(await alice.json('POST', '/ws-ticket', { body: { conversation_id: c.id } })).ticket;
    const attempts: Array<(t: string) => Promise<Response>> = [
      (t) => exports.default.fetch(`${ORIGIN}${API_BASE}/conversations/${c.id}/ws?ticket=${encodeURIComponent(t)}`),
      (t) =>
        exports.default.fetch(`${ORIGIN}${API_BASE}/conversations/not-a-uuid/ws?ticket=${encodeURIComponent(t)}`, {
          headers: { upgrade: 'websocket' },
        }),
      (t) =>
        exports.default.fetch(`${ORIGIN}${API_BASE}/conversations/${c.id}/ws?ticket=${encodeURIComponent(t)}`, {
          headers: { upgrade: 'websocket', authorization: 'Bearer x.y.z' },
        }),
    ];
    for (const attempt of attempts) {
      const t = await ticket();
      const refused = await attempt(t);
      expect(refused.status).toBeGreaterThanOrEqual(400);
      await refused.body?.cancel();
      const after = await openSocket(c.id, { ticket: t });
      expect(after).toBeInstanceOf(Response);
      expect((after as Response).status).toBe(401);
    }
  });

  it('refuses a foreign Origin with 403 and another user with 404, before the upgrade', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const foreign = (await openSocket(c.id, { userId: alice.userId }, { origin: 'https://evil.example' })) as Response;
    expect(foreign.status).toBe(403);
    expect(ErrorEnvelope.parse(await foreign.json()).error.code).toBe('forbidden');
    const allowed = await openSocket(c.id, { userId: alice.userId }, { origin: 'http://127.0.0.1:8787' });
    expect(allowed).toBeInstanceOf(TestSocket);
    (allowed as TestSocket).close();
    const other = (await openSocket(c.id, { userId: uniqueUser('mallory') })) as Response;
    expect(other.status).toBe(404);
  });

  it('refuses the 65th socket on one conversation with 429 too_many_connections', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const open = await Promise.all(Array.from({ length: 64 }, () => mustOpen(c.id, alice.userId)));
    const extra = (await openSocket(c.id, { userId: alice.userId })) as Response;
    expect(extra.status).toBe(429);
    expect(extra.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(ErrorEnvelope.parse(await extra.json()).error.code).toBe('too_many_connections');
    for (const s of open) s.close();
  });
});

describe('room restart', () => {
  it('goes on with a reply in flight when its agent resumes: same id, indexes continuing, stored complete', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const seen = await allEventsUntil(await alice.sendStreaming(c.id, '!dev words=200 delay_ms=20'), 12);
    const messageId = (JSON.parse(seen[0]?.data ?? '{}') as { messageId: string }).messageId;
    await keptAtLeast(c.id, messageId, seen.length);
    await abortAllDurableObjects();
    const rest = await allEvents(
      await alice.call('GET', `/conversations/${c.id}/stream`, {
        headers: { accept: 'text/event-stream', 'last-event-id': seen.at(-1)?.id ?? '' },
      }),
    );
    const events = [...seen, ...rest].filter((e) => e.data !== '[DONE]');
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => `${messageId}:${i}`));
    const streamed = events
      .map((e) => JSON.parse(e.data) as { type: string; delta?: string })
      .filter((x) => x.type === 'text-delta')
      .map((x) => x.delta)
      .join('');
    const reply = (await alice.history(c.id)).messages[1] as Message;
    expect(reply.status).toBe('complete');
    expect(reply.content).toBe(streamed);
    expect(reply.content.split(' ')).toHaveLength(200);
  });

  it('ends a reply in flight as error interrupted, keeping its partial text, when its agent does not resume', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const seen = await firstEvents(await alice.sendStreaming(c.id, '!dev words=200 delay_ms=20 no_resume'), 12);
    const messageId = (JSON.parse(seen[0] ?? '{}') as { messageId: string }).messageId;
    await keptAtLeast(c.id, messageId, seen.length);
    await abortAllDurableObjects();
    const page = await alice.history(c.id);
    const reply = page.messages[1] as Message;
    expect(reply.status).toBe('error');
    expect((reply.metadata.error as { code: string }).code).toBe('interrupted');
    const streamed = seen
      .map((d) => JSON.parse(d) as { type: string; delta?: string })
      .filter((x) => x.type === 'text-delta')
      .map((x) => x.delta)
      .join('');
    expect(reply.content.startsWith(streamed)).toBe(true);
    expect(reply.content.length).toBeGreaterThanOrEqual(streamed.length);
    expect((await alice.send(c.id, '!dev words=2')).reply.status).toBe('complete');
  });
});

/** Chunks are written down in batches: waits until the room has kept at least `n` of a reply's. */
async function keptAtLeast(conversationId: string, messageId: string, n: number): Promise<void> {
  const stub = env.ROOMS.get(env.ROOMS.idFromName(conversationId));
  const keptChunks = () =>
    runInDurableObject(stub, async (_room, state) => {
      const batches = await state.storage.list<{ chunks: unknown[] }>({ prefix: `chunk:${messageId}:` });
      return [...batches.values()].reduce((count, batch) => count + batch.chunks.length, 0);
    });
  expect(await eventually(keptChunks, (kept) => kept >= n)).toBeGreaterThanOrEqual(n);
}

/** The first `n` events of a stream with their ids; the rest of it is left unread. */
async function allEventsUntil(res: Response, n: number) {
  const seen: Array<{ id: string | null; data: string }> = [];
  for await (const e of sseEvents(res)) {
    seen.push(e);
    if (seen.length >= n) break;
  }
  return seen;
}
