import { describe, expect, it } from 'vitest';
import { client, openSocket, TestSocket, uniqueUser } from './test-support';
import { type Conversation, ErrorEnvelope, WsTicket } from './wire';

/** One conversation id, spelled in upper case, on every route that takes one: all reach the owner's conversation. */
describe('conversation ids', () => {
  it('an upper-case UUID reaches the owner’s conversation on every route', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation('case');
    const upper = c.id.toUpperCase();
    expect(upper).not.toBe(c.id);

    expect((await alice.json<Conversation>('GET', `/conversations/${upper}`)).id).toBe(c.id);
    const sent = await alice.send(upper, '!dev words=2');
    expect(sent.conversation.id).toBe(c.id);
    expect((await alice.history(upper)).messages.map((m) => m.conversation_id)).toEqual([c.id, c.id]);
    expect((await alice.history(c.id)).messages).toHaveLength(2);
    expect((await alice.call('GET', `/conversations/${upper}/stream`)).status).toBe(204);
    expect(await alice.json('POST', `/conversations/${upper}/stop`)).toEqual({ stopped: false });
    const renamed = await alice.json<Conversation>('PATCH', `/conversations/${upper}`, { body: { title: 'Renamed' } });
    expect(renamed).toMatchObject({ id: c.id, title: 'Renamed' });

    const byHeader = await openSocket(upper, { userId: alice.userId });
    expect(byHeader).toBeInstanceOf(TestSocket);
    const ready = await (byHeader as TestSocket).next('ready');
    expect(ready.conversation.id).toBe(c.id);
    expect(ready.last_seq).toBe(2);
    (byHeader as TestSocket).close();

    const ticket = WsTicket.parse(await alice.json('POST', '/ws-ticket', { body: { conversation_id: upper } }));
    const byTicket = await openSocket(upper, { ticket: ticket.ticket });
    expect(byTicket).toBeInstanceOf(TestSocket);
    expect((await (byTicket as TestSocket).next('ready')).conversation.id).toBe(c.id);
    (byTicket as TestSocket).close();

    expect((await alice.call('DELETE', `/conversations/${upper}`)).status).toBe(204);
    expect((await alice.call('GET', `/conversations/${c.id}`)).status).toBe(404);
  });

  it('another user’s conversation stays 404 in any case', async () => {
    const alice = client(uniqueUser('alice'));
    const bob = client(uniqueUser('bob'));
    const c = await alice.createConversation('private');
    const res = await bob.call('GET', `/conversations/${c.id.toUpperCase()}`);
    expect(res.status).toBe(404);
    expect(ErrorEnvelope.parse(await res.json()).error.code).toBe('not_found');
  });
});
