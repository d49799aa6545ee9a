import { describe, expect, it } from 'vitest';
import { client, uniqueUser } from '../test-support';
import { type Conversation, ConversationList, ErrorEnvelope } from '../wire';

const cursorOf = (value: unknown) =>
  btoa(JSON.stringify(value)).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');

describe('the conversation list cursor', () => {
  it('refuses a crafted cursor with 400 before it reaches Postgres', async () => {
    const alice = client(uniqueUser('alice'));
    await alice.createConversation('one');
    const uuid = crypto.randomUUID();
    const crafted = {
      'an id that is not a uuid': cursorOf(['2026-01-01 10:00:00.123456+00', 'not-a-uuid']),
      'an impossible month': cursorOf(['2026-13-01 10:00:00+00', uuid]),
      'an impossible day': cursorOf(['2026-02-30 10:00:00+00', uuid]),
      'a date Postgres cannot read': cursorOf(['Tue Dec 01 2026', uuid]),
      'a number for the time': cursorOf([1_700_000_000, uuid]),
      'an object': cursorOf({ at: '2026-01-01 10:00:00+00', id: uuid }),
      'extra fields': cursorOf(['2026-01-01 10:00:00+00', uuid, 'more']),
      'not JSON': btoa('hello'),
      'not base64': '%%%',
    };
    for (const [what, cursor] of Object.entries(crafted)) {
      const res = await alice.call('GET', `/conversations?cursor=${encodeURIComponent(cursor)}`);
      const body = ErrorEnvelope.parse(await res.json());
      expect(`${what}: ${res.status} ${body.error.code}`).toBe(`${what}: 400 invalid_request`);
      expect(body.error.message).toMatch(/cursor/);
    }
  });

  it('takes back the cursor it gave out, in the form Postgres writes times', async () => {
    const alice = client(uniqueUser('alice'));
    for (const title of ['a', 'b', 'c']) await alice.createConversation(title);
    const first = ConversationList.parse(await alice.json('GET', '/conversations?limit=2'));
    expect(first.next_cursor).not.toBeNull();
    const [at] = JSON.parse(atob((first.next_cursor ?? '').replaceAll('-', '+').replaceAll('_', '/'))) as string[];
    expect(at).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}/);
    const rest = ConversationList.parse(
      await alice.json('GET', `/conversations?limit=2&cursor=${encodeURIComponent(first.next_cursor ?? '')}`),
    );
    expect(rest.conversations.map((c) => c.title)).toEqual(['a']);
  });
});

describe('pin and archive (SPEC §10)', () => {
  const titles = (list: { conversations: Conversation[] }) => list.conversations.map((c) => c.title);

  it('lists pinned conversations first, then by last message, and pages through that order', async () => {
    const alice = client(uniqueUser('alice'));
    const made: Record<string, Conversation> = {};
    for (const title of ['a', 'b', 'c', 'd', 'e']) made[title] = await alice.createConversation(title);
    for (const title of ['b', 'd']) {
      const pinned = await alice.json<Conversation>('PATCH', `/conversations/${made[title]?.id}`, {
        body: { pinned: true },
      });
      expect(pinned).toMatchObject({ pinned: true, archived: false, title });
      // Pinning is not activity: the conversation keeps its place among the pinned by its last message.
      expect(pinned.last_message_at).toBe(made[title]?.last_message_at);
    }
    const all = ConversationList.parse(await alice.json('GET', '/conversations'));
    expect(titles(all)).toEqual(['d', 'b', 'e', 'c', 'a']);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const page = ConversationList.parse(await alice.json('GET', `/conversations?limit=2${q}`));
      seen.push(...titles(page));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual(['d', 'b', 'e', 'c', 'a']);

    await alice.json('PATCH', `/conversations/${made.d?.id}`, { body: { pinned: false } });
    expect(titles(ConversationList.parse(await alice.json('GET', '/conversations')))).toEqual([
      'b',
      'e',
      'd',
      'c',
      'a',
    ]);
  });

  it('leaves archived conversations out of the list, lists only them with archived=true, and unarchives', async () => {
    const alice = client(uniqueUser('alice'));
    await alice.createConversation('a');
    const b = await alice.createConversation('b');
    const archived = await alice.json<Conversation>('PATCH', `/conversations/${b.id}`, { body: { archived: true } });
    expect(archived).toMatchObject({ archived: true, pinned: false });
    expect(await alice.json<Conversation>('GET', `/conversations/${b.id}`)).toMatchObject({ archived: true });
    expect(titles(ConversationList.parse(await alice.json('GET', '/conversations')))).toEqual(['a']);
    expect(titles(ConversationList.parse(await alice.json('GET', '/conversations?archived=true')))).toEqual(['b']);
    // Still a conversation like any other: it can be read and written to while archived.
    await alice.send(b.id, 'still here');
    expect(titles(ConversationList.parse(await alice.json('GET', '/conversations?archived=true')))).toEqual(['b']);

    await alice.json('PATCH', `/conversations/${b.id}`, { body: { archived: false } });
    expect(titles(ConversationList.parse(await alice.json('GET', '/conversations')))).toEqual(['b', 'a']);
    expect(titles(ConversationList.parse(await alice.json('GET', '/conversations?archived=true')))).toEqual([]);
  });

  it('refuses a PATCH that changes nothing or is not boolean, and another user’s conversation', async () => {
    const alice = client(uniqueUser('alice'));
    const bob = client(uniqueUser('bob'));
    const mine = await alice.createConversation('mine');
    for (const body of [{}, { pinned: 'yes' }, { archived: 1 }, { pinned: true, color: 'red' }]) {
      const res = await alice.call('PATCH', `/conversations/${mine.id}`, { body });
      expect(`${JSON.stringify(body)} → ${res.status}`).toBe(`${JSON.stringify(body)} → 400`);
    }
    expect((await bob.call('PATCH', `/conversations/${mine.id}`, { body: { pinned: true } })).status).toBe(404);
    expect((await alice.call('GET', '/conversations?archived=maybe')).status).toBe(400);
    expect(await alice.json<Conversation>('GET', `/conversations/${mine.id}`)).toMatchObject({
      pinned: false,
      archived: false,
    });
  });
});
