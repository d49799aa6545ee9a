import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import {
  type Client,
  client,
  eventually,
  mustOpen,
  ORIGIN,
  pgQuery,
  type SseEvent,
  sseEvents,
  uniqueUser,
} from './test-support';
import {
  type Conversation,
  ConversationList,
  ErrorEnvelope,
  SharedConversation,
  SharedUpdate,
  ShareLink,
} from './wire';

let clientNumber = 0;
/** A public caller: no Authorization, an address of its own (public reads are limited per address). */
function publicCall(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('cf-connecting-ip', `203.0.113.${++clientNumber % 250}`);
  return exports.default.fetch(new Request(`${ORIGIN}/api/v1/shared${path}`, { ...init, headers }));
}

async function shareOf(owner: Client, conversationId: string): Promise<ShareLink> {
  return ShareLink.parse(await owner.json('POST', `/conversations/${conversationId}/share`));
}

/** A live viewer of a share link: every event it has received, and a way to wait for the ones a test needs. */
class Viewer {
  readonly events: SseEvent[] = [];
  ended = false;
  private wake: () => void = () => undefined;

  constructor(res: Response) {
    void (async () => {
      try {
        for await (const e of sseEvents(res)) {
          this.events.push(e);
          this.wake();
        }
      } catch {
        // A cut stream ends the viewer as a closed one does.
      }
      this.ended = true;
      this.wake();
    })();
  }

  static async open(shareId: string): Promise<Viewer> {
    const res = await publicCall(`/${shareId}/stream`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    return new Viewer(res);
  }

  get chunks(): Array<Record<string, unknown>> {
    return this.events
      .map((e) => JSON.parse(e.data) as Record<string, unknown>)
      .filter((d) => d.type !== 'data-conversation');
  }

  get updates(): SharedUpdate[] {
    return this.events
      .map((e) => JSON.parse(e.data) as { type: string; data: unknown })
      .filter((d) => d.type === 'data-conversation')
      .map((d) => SharedUpdate.parse(d.data));
  }

  async until(done: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0 || this.ended) {
        throw new Error(
          `viewer ${this.ended ? 'ended' : 'timed out'} waiting for ${what}: ${JSON.stringify(this.events)}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 500));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  async closed(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(this.ended, 'the viewer stream was not closed').toBe(true);
  }
}

const sorted = (o: object) => Object.keys(o).sort();

describe('share links', () => {
  it('one link per conversation, 128 random bits, only for its owner', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation('Shared');
    const link = await shareOf(alice, c.id);
    expect(link.share_id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(link.url).toBe(`${ORIGIN}/s/${link.share_id}`);
    expect(await shareOf(alice, c.id)).toEqual(link);

    const other = await shareOf(alice, (await alice.createConversation()).id);
    expect(other.share_id).not.toBe(link.share_id);

    const mallory = client(uniqueUser('mallory'));
    const res = await mallory.call('POST', `/conversations/${c.id}/share`);
    expect(res.status).toBe(404);
    expect((await mallory.call('DELETE', `/conversations/${c.id}/share`)).status).toBe(404);
    expect((await publicCall(`/${link.share_id}`)).status).toBe(200);
  });

  it('the conversation says it is shared (shared: true) in its GET, the list and its open tabs, until revoked', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation('Marked');
    const shared = async () => ({
      get: (await alice.json<Conversation>('GET', `/conversations/${c.id}`)).shared,
      list: ConversationList.parse(await alice.json('GET', '/conversations')).conversations.map((x) => x.shared),
    });
    expect(c.shared).toBe(false);
    expect(await eventually(shared, (s) => s.list.length === 1)).toEqual({ get: false, list: [false] });
    const tab = await mustOpen(c.id, alice.userId);

    let seen = tab.frames.length;
    await shareOf(alice, c.id);
    expect((await tab.next('conversation', seen)).conversation.shared).toBe(true);
    expect(await shared()).toEqual({ get: true, list: [true] });
    // A repeat returns the same link and changes nothing: no news for the tabs.
    seen = tab.frames.length;
    await shareOf(alice, c.id);
    const patched = await alice.json<Conversation>('PATCH', `/conversations/${c.id}`, { body: { pinned: true } });
    expect(patched.shared).toBe(true);
    const next = await tab.next('conversation', seen);
    expect(next.conversation).toMatchObject({ pinned: true, shared: true });

    seen = tab.frames.length;
    expect((await alice.call('DELETE', `/conversations/${c.id}/share`)).status).toBe(204);
    expect((await tab.next('conversation', seen)).conversation.shared).toBe(false);
    expect((await shared()).get).toBe(false);
    // The list is read from Postgres, which the room's outbox brings up to date just after.
    await eventually(shared, (s) => s.list[0] === false);
    tab.close();
  });

  it('the public JSON has the conversation and its messages and no private field: the exact keys', async () => {
    const userId = uniqueUser('alice');
    const alice = client(userId);
    const sent = await alice.send(undefined, 'what is shared?');
    const link = await shareOf(alice, sent.conversation.id);

    const res = await publicCall(`/${link.share_id}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const text = await res.text();
    const body = SharedConversation.parse(JSON.parse(text));
    expect(sorted(JSON.parse(text))).toEqual(['conversation', 'messages']);
    expect(sorted(body.conversation)).toEqual(['created_at', 'title']);
    expect(body.conversation.title).toBe('what is shared?');
    expect(body.messages.map((m) => [m.role, m.content])).toEqual([
      ['user', 'what is shared?'],
      ['assistant', sent.reply.content],
    ]);
    for (const m of JSON.parse(text).messages) expect(sorted(m)).toEqual(['content', 'created_at', 'parts', 'role']);
    // Nothing that names the owner, the conversation or a message, anywhere in it.
    for (const secret of [userId, sent.conversation.id, sent.message.id, sent.reply.id]) {
      expect(text).not.toContain(secret);
    }
  });

  it('a guessed, malformed or unknown link is 404, on the JSON and the stream alike', async () => {
    const random = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))))
      .replaceAll('+', '-')
      .replaceAll('/', '_')
      .replace(/=+$/, '');
    for (const path of [`/${random}`, `/${random}/stream`, '/not-a-link', `/${crypto.randomUUID()}`, '/']) {
      const res = await publicCall(path);
      expect(res.status, path).toBe(404);
      expect(ErrorEnvelope.parse(await res.json()).error.code).toBe('not_found');
    }
  });

  it('a viewer cannot write: anything but GET is 405 with the JSON envelope, and nothing changes', async () => {
    const alice = client(uniqueUser('alice'));
    const sent = await alice.send(undefined, 'read only');
    const link = await shareOf(alice, sent.conversation.id);
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']) {
      for (const path of [`/${link.share_id}`, `/${link.share_id}/stream`, `/${link.share_id}/messages`]) {
        const res = await publicCall(path, {
          method,
          ...(method === 'POST' || method === 'PUT' || method === 'PATCH'
            ? { body: JSON.stringify({ content: 'injected' }), headers: { 'content-type': 'application/json' } }
            : {}),
        });
        expect(res.status, `${method} ${path}`).toBe(405);
        expect(res.headers.get('allow')).toBe('GET');
        if (method !== 'HEAD') expect(ErrorEnvelope.parse(await res.json()).error.code).toBe('method_not_allowed');
      }
    }
    const after = SharedConversation.parse(await (await publicCall(`/${link.share_id}`)).json());
    expect(after.messages).toHaveLength(2);
    expect((await alice.history(sent.conversation.id)).messages).toHaveLength(2);
  });

  it('a viewer follows the conversation live: the written messages, a reply as it streams, then each message', async () => {
    const userId = uniqueUser('alice');
    const alice = client(userId);
    const c = await alice.createConversation('Live');
    const link = await shareOf(alice, c.id);
    const viewer = await Viewer.open(link.share_id);
    await viewer.until(() => viewer.updates.length === 1, 'the first update');
    expect(viewer.updates[0]).toEqual({
      conversation: { title: 'Live', created_at: c.created_at },
      from: 0,
      messages: [],
    });

    const sending = alice.send(c.id, '!dev words=30 delay_ms=40\nstream this');
    // The reply reaches the viewer while it is still being written.
    await viewer.until(() => viewer.chunks.some((d) => d.type === 'text-delta'), 'a text-delta');
    const { reply } = await sending;
    expect(reply.status).toBe('complete');
    await viewer.until(() => viewer.updates.length === 3, 'the reply written');
    expect(viewer.events.some((e) => e.id === `${reply.id}:1`)).toBe(true);

    const [start] = viewer.chunks;
    expect(start).toEqual({ type: 'start', messageId: reply.id });
    const text = viewer.chunks
      .filter((d) => d.type === 'text-delta')
      .map((d) => d.delta)
      .join('');
    expect(text.split(/\s+/).filter(Boolean)).toHaveLength(30);
    expect(viewer.chunks.at(-1)).toEqual({ type: 'finish' });

    const [, user, written] = viewer.updates;
    expect(user?.from).toBe(0);
    expect(user?.messages.map((m) => [m.role, m.content])).toEqual([
      ['user', '!dev words=30 delay_ms=40\nstream this'],
    ]);
    expect(written?.from).toBe(1);
    expect(written?.messages.map((m) => [m.role, m.content])).toEqual([['assistant', reply.content]]);
    for (const update of viewer.updates) {
      expect(sorted(update)).toEqual(['conversation', 'from', 'messages']);
      for (const m of update.messages) expect(sorted(m)).toEqual(['content', 'created_at', 'parts', 'role']);
    }
    const all = viewer.events.map((e) => e.data).join('\n');
    for (const secret of [userId, c.id, `"conversation_id"`, `"user_message_id"`]) expect(all).not.toContain(secret);

    // A rename is an update with no messages, at the end of what is written.
    await alice.json('PATCH', `/conversations/${c.id}`, { body: { title: 'Renamed live' } });
    await viewer.until(() => viewer.updates.length === 4, 'the rename');
    expect(viewer.updates[3]).toMatchObject({ conversation: { title: 'Renamed live' }, from: 2, messages: [] });
  });

  it('a viewer who arrives while a reply streams gets the written messages, then the reply from its first chunk', async () => {
    const alice = client(uniqueUser('alice'));
    const first = await alice.send(undefined, 'first');
    const c = first.conversation;
    const link = await shareOf(alice, c.id);
    const owner = sseEvents(await alice.sendStreaming(c.id, '!dev words=40 delay_ms=50\nlate'));
    // Wait until the owner's reply has produced a word: the viewer arrives mid-reply.
    for (;;) {
      const { value, done } = await owner.next();
      if (done) throw new Error('the owner stream ended early');
      if ((JSON.parse(value.data) as { type: string }).type === 'text-delta') break;
    }
    const viewer = await Viewer.open(link.share_id);
    await viewer.until(() => viewer.chunks.some((d) => d.type === 'finish'), 'the finish');
    expect(viewer.updates[0]?.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect(viewer.chunks[0]?.type).toBe('start');
    const ids = viewer.events.filter((e) => e.id).map((e) => Number(e.id?.split(':')[1]));
    expect(ids).toEqual(ids.map((_, i) => i));
    await owner.return(undefined);
  });

  it('a viewer sees a reply go on after its tool approval is answered: from its first chunk again, then written', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation('Approval');
    const link = await shareOf(alice, c.id);
    const viewer = await Viewer.open(link.share_id);
    const { reply } = await alice.send(c.id, '!dev approve=calc calc=6*7 delay_ms=40');
    const tool = reply.parts.find((p) => p.type === 'tool-calculator') as { approval?: { id?: string } } | undefined;
    expect(tool?.approval?.id).toBeTruthy();
    await viewer.until(() => viewer.updates.length === 3, 'the asking reply written');
    const asked = viewer.chunks.length;

    const answered = await alice.call('POST', `/conversations/${c.id}/approvals`, {
      body: { approval_id: tool?.approval?.id, approved: true },
    });
    expect(answered.status, await answered.clone().text()).toBe(200);
    const written = (u: SharedUpdate) => u.messages.some((m) => m.role === 'assistant' && m.content.includes('42'));
    await viewer.until(() => viewer.updates.some(written), 'the reply written again with its continuation');

    // The reply left the written messages when it went on (an update from its place with none), and streamed again
    // from its first chunk: the chunks it had, then the continuation's, with indexes that go on.
    const goingOn = viewer.updates[3];
    expect(goingOn).toMatchObject({ from: 1, messages: [] });
    const again = viewer.events.filter((e) => e.id?.startsWith(`${reply.id}:`)).slice(asked);
    const indexes = again.map((e) => Number(e.id?.split(':')[1]));
    expect(indexes[0]).toBe(0);
    expect(indexes).toEqual(indexes.map((_, i) => i));
    expect(indexes.length).toBeGreaterThan(asked);
    const text = viewer.chunks
      .slice(asked)
      .filter((d) => d.type === 'text-delta')
      .map((d) => d.delta)
      .join('');
    expect(text).toContain('42');
  });

  it('shows the active branch: an edit replaces what followed for a viewer, a switch shows the other branch whole', async () => {
    const alice = client(uniqueUser('alice'));
    const first = await alice.send(undefined, '!dev words=3\nfirst try');
    const c = first.conversation;
    const link = await shareOf(alice, c.id);
    const viewer = await Viewer.open(link.share_id);
    await viewer.until(() => viewer.updates.length === 1, 'the first update');

    const edited = await alice.json<{ message: { id: string }; reply: { id: string; content: string } }>(
      'POST',
      '/messages',
      { body: { conversation_id: c.id, content: '!dev words=4\nsecond try', edit_of: first.message.id } },
    );
    await viewer.until(() => viewer.updates.length === 3, 'the edit and its reply');
    expect(viewer.updates[1]).toMatchObject({ from: 0, messages: [{ content: '!dev words=4\nsecond try' }] });
    expect(viewer.updates[2]).toMatchObject({ from: 1, messages: [{ content: edited.reply.content }] });
    const shown = async () =>
      SharedConversation.parse(await (await publicCall(`/${link.share_id}`)).json()).messages.map((m) => m.content);
    expect(await shown()).toEqual(['!dev words=4\nsecond try', edited.reply.content]);

    await alice.json('POST', `/conversations/${c.id}/head`, { body: { message_id: first.reply.id } });
    await viewer.until(() => viewer.updates.length === 4, 'the switch');
    expect(viewer.updates[3]?.from).toBe(0);
    expect(viewer.updates[3]?.messages.map((m) => m.content)).toEqual(['!dev words=3\nfirst try', first.reply.content]);
    expect(await shown()).toEqual(['!dev words=3\nfirst try', first.reply.content]);
  });

  it('revoking closes a live viewer and the link is 404 from then on; sharing again makes a new link', async () => {
    const alice = client(uniqueUser('alice'));
    const sent = await alice.send(undefined, 'to be revoked');
    const link = await shareOf(alice, sent.conversation.id);
    const viewer = await Viewer.open(link.share_id);
    await viewer.until(() => viewer.updates.length === 1, 'the first update');

    expect((await alice.call('DELETE', `/conversations/${sent.conversation.id}/share`)).status).toBe(204);
    await viewer.closed();
    for (const path of [`/${link.share_id}`, `/${link.share_id}/stream`]) {
      const res = await publicCall(path);
      expect(res.status, path).toBe(404);
      expect(ErrorEnvelope.parse(await res.json()).error.code).toBe('not_found');
    }
    expect((await alice.call('DELETE', `/conversations/${sent.conversation.id}/share`)).status).toBe(204);

    const again = await shareOf(alice, sent.conversation.id);
    expect(again.share_id).not.toBe(link.share_id);
    expect((await publicCall(`/${again.share_id}`)).status).toBe(200);
    expect((await publicCall(`/${link.share_id}`)).status).toBe(404);
    const rows = await pgQuery<{ id: string }>('select id from conversation_shares where conversation_id = $1', [
      sent.conversation.id,
    ]);
    expect(rows.map((r) => r.id)).toEqual([again.share_id]);
  });

  it('deleting the conversation revokes its link: a live viewer is closed, the link is 404 and its row is gone', async () => {
    const alice = client(uniqueUser('alice'));
    const sent = await alice.send(undefined, 'to be deleted');
    const link = await shareOf(alice, sent.conversation.id);
    const viewer = await Viewer.open(link.share_id);
    await viewer.until(() => viewer.updates.length === 1, 'the first update');

    expect((await alice.call('DELETE', `/conversations/${sent.conversation.id}`)).status).toBe(204);
    await viewer.closed();
    expect((await publicCall(`/${link.share_id}`)).status).toBe(404);
    expect((await publicCall(`/${link.share_id}/stream`)).status).toBe(404);
    const rows = await pgQuery('select id from conversation_shares where id = $1', [link.share_id]);
    expect(rows).toEqual([]);
  });
});
