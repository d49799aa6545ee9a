import { describe, expect, it } from 'vitest';
import { client, uniqueUser } from '../test-support';
import { ConversationList, ErrorEnvelope } from '../wire';

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
