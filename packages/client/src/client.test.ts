/** The client in Node against the real stack (dev/stack.ts): REST, tokens, the live connection and its fallbacks. */
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { makeTempDataDir, type Stack, startStack } from '../../../dev/stack';
import { GENEROUS_LIMITS, uniqueUser } from '../../../dev/testing';
import type { TokenRequest } from './api';
import { type ChatClient, createChatClient } from './client';
import { ChatError } from './errors';
import type { ChatSnapshot, LiveConversation } from './live-conversation';
import { startTestProxy, type TestProxy } from './test-proxy';

let stack: Stack;
let dataDir: string;

beforeAll(async () => {
  dataDir = await makeTempDataDir('agent-chat-client-test-');
  stack = await startStack({ port: 0, dataDir, quiet: true, vars: GENEROUS_LIMITS });
}, 180_000);
afterAll(async () => {
  await stack?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

const user = () => uniqueUser('client-test');

/** A client for a fresh user whose getToken counts its calls. */
async function clientFor(baseUrl = stack.url, name = user()) {
  const token = await stack.devToken(name);
  const asked: TokenRequest[] = [];
  const client = createChatClient({
    baseUrl,
    WebSocket,
    getToken: (request) => {
      asked.push(request);
      return token;
    },
  });
  return { client, asked, token, name };
}

/** Resolves once the conversation's snapshot satisfies `ok` (checked on every change). */
function until(live: LiveConversation, ok: (s: ChatSnapshot) => boolean, what: string): Promise<ChatSnapshot> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const snapshot = live.getSnapshot();
      if (!ok(snapshot)) return false;
      clearTimeout(timer);
      unsubscribe();
      resolve(snapshot);
      return true;
    };
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`timed out waiting for ${what}; link=${live.getSnapshot().link}`));
    }, 60_000);
    const unsubscribe = live.subscribe(check);
    check();
  });
}

const lastReply = (s: ChatSnapshot) => s.items.findLast((item) => item.role === 'assistant');
const replyEnded = (s: ChatSnapshot) => {
  const reply = lastReply(s);
  return reply !== undefined && reply.status === 'complete' && !s.streaming;
};

async function caught(promise: Promise<unknown>): Promise<ChatError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(error instanceof ChatError)) throw new Error(`expected a ChatError, got ${String(error)}`);
  return error;
}

describe('REST calls', () => {
  it('covers every call of SPEC §3 with typed answers and typed errors', async () => {
    const { client } = await clientFor();
    const created = await client.createConversation({ title: 'First' });
    expect(created.title).toBe('First');
    expect((await client.getConversation(created.id)).id).toBe(created.id);
    expect((await client.renameConversation(created.id, '  Renamed  ')).title).toBe('Renamed');

    const sent = await client.send({ conversation_id: created.id, content: '!dev words=3', client_message_id: 'a1' });
    expect(sent.reply.status).toBe('complete');
    expect(sent.reply.content.split(/\s+/).filter(Boolean)).toHaveLength(3);
    const page = await client.messages(created.id);
    expect(page.messages.map((m) => m.seq)).toEqual([1, 2]);
    expect((await client.messages(created.id, { after_seq: 1 })).messages.map((m) => m.seq)).toEqual([2]);

    const list = await client.listConversations({ limit: 1 });
    expect(list.conversations.map((c) => c.id)).toEqual([created.id]);
    expect(list.next_cursor).toBeNull();

    expect(await client.stop(created.id)).toBe(false);
    expect((await client.wsTicket(created.id)).expires_in).toBeGreaterThan(0);

    await client.deleteConversation(created.id);
    const gone = await caught(client.getConversation(created.id));
    expect([gone.code, gone.status]).toEqual(['not_found', 404]);
    const invalid = await caught(client.renameConversation('not-a-uuid', 'x'));
    expect([invalid.code, invalid.status]).toEqual(['invalid_request', 400]);
  });

  it('answers a tool approval (SPEC §9): the reply goes on in the same message; a second answer or an unknown id is a typed error', async () => {
    const { client } = await clientFor();
    const asked = await client.send({ content: '!dev approve=calc calc=2+3\nwhat is it?' });
    const tool = asked.reply.parts.find((p) => p.type === 'tool-calculator') as { approval?: { id: string } };
    expect(asked.reply.status).toBe('complete');
    const approvalId = tool.approval?.id ?? '';
    const answered = await client.approve(asked.conversation.id, { approval_id: approvalId, approved: true });
    expect(answered.reply.id).toBe(asked.reply.id);
    expect(answered.reply.content).toContain('The result of 2+3 is 5.');
    const again = await caught(client.approve(asked.conversation.id, { approval_id: approvalId, approved: false }));
    expect([again.code, again.status]).toEqual(['already_answered', 409]);
    const unknown = await caught(client.approve(asked.conversation.id, { approval_id: 'nope', approved: true }));
    expect([unknown.code, unknown.status]).toEqual(['not_found', 404]);
  });

  it('streams a send as SSE events with gap-free indexes ending in [DONE]', async () => {
    const { client } = await clientFor();
    const { readReplyEvents } = await import('./sse');
    const res = await client.sendStream({ content: '!dev words=5', client_message_id: 's1' });
    const indexes: number[] = [];
    let done = false;
    for await (const event of readReplyEvents(res)) {
      if (event.done) done = true;
      else indexes.push(event.index);
    }
    expect(done).toBe(true);
    expect(indexes).toEqual(indexes.map((_, i) => i));
  });

  it('asks getToken before every request', async () => {
    const { client, asked } = await clientFor();
    await client.listConversations();
    await client.createConversation();
    await client.listConversations();
    expect(asked).toEqual([{ refresh: false }, { refresh: false }, { refresh: false }]);
  });

  it('retries a 401 once with a fresh token, then reports unauthorized', async () => {
    const token = await stack.devToken(user());
    let unauthorized = 0;
    const refreshing = createChatClient({
      baseUrl: stack.url,
      getToken: ({ refresh }) => (refresh ? token : `${token.slice(0, -4)}AAAA`),
    });
    expect((await refreshing.listConversations()).conversations).toEqual([]);

    const asked: boolean[] = [];
    const hopeless = createChatClient({
      baseUrl: stack.url,
      getToken: ({ refresh }) => {
        asked.push(refresh);
        return 'not-a-jwt';
      },
      onUnauthorized: () => unauthorized++,
    });
    const error = await caught(hopeless.listConversations());
    expect([error.code, error.status]).toEqual(['unauthorized', 401]);
    expect(asked).toEqual([false, true]);
    expect(unauthorized).toBe(1);
  });

  it('turns a getToken that throws or gives nothing into token_unavailable, sending nothing', async () => {
    let fetched = 0;
    const counting: typeof fetch = (input, init) => {
      fetched++;
      return fetch(input, init);
    };
    for (const getToken of [
      () => {
        throw new Error('auth service down');
      },
      () => '',
      async () => undefined,
    ]) {
      const client = createChatClient({ baseUrl: stack.url, getToken, fetch: counting });
      expect((await caught(client.listConversations())).code).toBe('token_unavailable');
    }
    expect(fetched).toBe(0);
  });

  it('reports an unreachable server as a network error', async () => {
    const proxy = await startTestProxy(stack.url);
    await proxy.close();
    const { client } = await clientFor(proxy.url);
    const error = await caught(client.listConversations());
    expect([error.code, error.status]).toEqual(['network', 0]);
  });
});

describe('live conversation', () => {
  let proxies: TestProxy[] = [];
  const lives: LiveConversation[] = [];
  afterAll(async () => {
    for (const live of lives) live.dispose();
    for (const proxy of proxies) await proxy.close();
    proxies = [];
  });

  async function live(client: ChatClient, id: string | null): Promise<LiveConversation> {
    const conversation = client.live(id);
    lives.push(conversation);
    await conversation.start();
    return conversation;
  }

  it('streams a reply over the WebSocket to the sender and to a second client', async () => {
    const a = await clientFor();
    const b = await clientFor(stack.url, a.name);
    const { id } = await a.client.createConversation();
    const sender = await live(a.client, id);
    const watcher = await live(b.client, id);
    await until(sender, (s) => s.link === 'connected', 'sender connected');
    await until(watcher, (s) => s.link === 'connected', 'watcher connected');

    expect(sender.send('!dev words=20 delay_ms=5')).toBeNull();
    const [mine, theirs] = await Promise.all([
      until(sender, replyEnded, 'reply at the sender'),
      until(watcher, replyEnded, 'reply at the watcher'),
    ]);
    const stored = (await a.client.messages(id)).messages[1];
    expect(lastReply(mine)?.text).toBe(stored?.content);
    expect(lastReply(theirs)?.text).toBe(stored?.content);
    expect(stored?.content.split(/\s+/).filter(Boolean)).toHaveLength(20);
    // One ticket (one token) per connect: the history, the conversation and the first ticket.
    expect(a.asked.every((r) => !r.refresh)).toBe(true);
  });

  it('resumes a reply cut mid-stream by index, with a fresh token for the reconnect, no gap and no duplicate', async () => {
    const a = await clientFor();
    const proxy = await startTestProxy(stack.url);
    proxies.push(proxy);
    const b = await clientFor(proxy.url, a.name);
    const { id } = await a.client.createConversation();
    const sender = await live(a.client, id);
    const watcher = await live(b.client, id);
    await until(watcher, (s) => s.link === 'connected', 'watcher connected');
    await until(sender, (s) => s.link === 'connected', 'sender connected');

    // Every text the watcher shows while the reply streams, to check it only ever grows by the next words.
    const shown: string[] = [];
    watcher.subscribe(() => {
      const reply = lastReply(watcher.getSnapshot());
      if (reply?.status === 'streaming') shown.push(reply.text);
    });
    sender.send('!dev words=80 delay_ms=25');
    const wordsOf = (s: ChatSnapshot) => lastReply(s)?.text.split(/\s+/).filter(Boolean).length ?? 0;
    const atCut = wordsOf(await until(watcher, (s) => wordsOf(s) > 5, 'the first words at the watcher'));
    const tokensBefore = b.asked.length;
    proxy.cut();
    await until(watcher, (s) => s.link === 'reconnecting', 'the watcher to notice the cut');
    await until(watcher, (s) => s.link === 'connected', 'the watcher back');
    expect(b.asked.length).toBeGreaterThan(tokensBefore);
    // Live again before the reply ended: the words after the cut came from the resume, not the final message.
    await until(watcher, (s) => lastReply(s)?.status === 'streaming' && wordsOf(s) > atCut + 10, 'resumed words');
    const seen = await until(watcher, replyEnded, 'the reply at the watcher');
    const stored = (await a.client.messages(id)).messages[1];
    expect(stored?.content.split(/\s+/).filter(Boolean)).toHaveLength(80);
    expect(lastReply(seen)?.text).toBe(stored?.content);
    for (const text of shown) expect(stored?.content.startsWith(text)).toBe(true);
  });

  it('falls back to SSE when a proxy blocks WebSockets, and a send still streams', async () => {
    const proxy = await startTestProxy(stack.url, { blockWebSockets: true });
    proxies.push(proxy);
    const { client } = await clientFor(proxy.url);
    const { id } = await client.createConversation();
    const conversation = await live(client, id);
    await until(conversation, (s) => s.link === 'sse', 'the SSE fallback');
    expect(conversation.send('!dev words=12 delay_ms=5')).toBeNull();
    const seen = await until(conversation, replyEnded, 'the reply over SSE');
    const stored = (await client.messages(id)).messages[1];
    expect(lastReply(seen)?.text).toBe(stored?.content);
  });

  it('shows signed out, not a blank pane, when getToken fails, and recovers with reconnect()', async () => {
    const token = await stack.devToken(user());
    let broken = true;
    const client = createChatClient({
      baseUrl: stack.url,
      WebSocket,
      getToken: () => {
        if (broken) throw new Error('auth service down');
        return token;
      },
    });
    const conversation = client.live(null);
    lives.push(conversation);
    const { id } = await createChatClient({ baseUrl: stack.url, getToken: () => token }).createConversation();
    const existing = client.live(id);
    lives.push(existing);
    await existing.start();
    const out = await until(existing, (s) => s.signedOut !== null, 'signed out');
    expect([out.link, out.signedOut?.code]).toEqual(['signed_out', 'token_unavailable']);
    broken = false;
    existing.reconnect();
    await until(existing, (s) => s.link === 'connected' && s.signedOut === null, 'connected after the retry');
  });

  it('keeps a send made while the server is unreachable, shows the connection as offline, and can drop it', async () => {
    const proxy = await startTestProxy(stack.url);
    await proxy.close();
    const { client } = await clientFor(proxy.url);
    const conversation = client.live(null);
    lives.push(conversation);
    await conversation.start();
    expect(conversation.send('hello there')).toBeNull();
    const seen = await until(conversation, (s) => s.items.some((i) => i.status === 'failed'), 'the failed send');
    expect(seen.items.map((i) => [i.text, i.status])).toEqual([['hello there', 'failed']]);
    expect(seen.notice?.code).toBe('network');
    const failed = seen.items[0];
    if (failed) conversation.dismiss(failed);
    const after = await until(conversation, (s) => s.items.length === 0, 'the failed send dropped');
    expect(after.notice).toBeNull();
  });

  it('on the fallback: a switch to a version the client never held, and a switch made elsewhere, are both shown', async () => {
    const proxy = await startTestProxy(stack.url, { blockWebSockets: true });
    proxies.push(proxy);
    const a = await clientFor();
    const b = await clientFor(proxy.url, a.name);
    const first = await a.client.send({ content: '!dev words=3' });
    const id = first.conversation.id;
    const second = await a.client.regenerate(id, { message_id: first.reply.id });
    const watcher = await live(b.client, id);
    await until(watcher, (s) => s.link === 'sse', 'the SSE fallback');
    expect(lastReply(watcher.getSnapshot())?.id).toBe(second.reply.id);

    // The first reply was never read by this client: its id comes with the shown reply's branch.
    await watcher.switchBranch(second.reply.id, -1);
    const back = await until(watcher, (s) => lastReply(s)?.id === first.reply.id, 'the first version shown');
    expect(lastReply(back)?.branch).toMatchObject({ index: 1, count: 2, next_id: second.reply.id });

    // Another client switches back; with no socket, this one learns it from its next poll.
    await a.client.setHead(id, second.reply.id);
    await until(watcher, (s) => lastReply(s)?.id === second.reply.id, 'the switch made elsewhere');
  }, 90_000);
});
