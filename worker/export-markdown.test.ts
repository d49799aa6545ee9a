import { describe, expect, it } from 'vitest';
import { client, eventually, uniqueUser } from './test-support';
import { ConversationExport, ErrorEnvelope } from './wire';

const CODE_AND_TABLE = [
  'Here is code:',
  '',
  '```ts',
  'const answer = `42`;',
  '```',
  '',
  '| city | people |',
  '|---|---|',
  '| Oslo | 700k |',
].join('\n');

describe('export (SPEC §10)', () => {
  it('Markdown holds every message of the active branch in order, tool calls fenced, code and tables as written', async () => {
    const alice = client(uniqueUser('export'));
    const c = await alice.createConversation('Export me');
    await alice.send(c.id, '!dev words=3\nfirst question');
    await alice.send(c.id, '!dev calc=2*(3+4)\nwhat is it');
    await alice.send(c.id, `!dev echo\n${CODE_AND_TABLE}`);

    const exported = await eventually(
      async () => ConversationExport.parse(await alice.json('GET', `/conversations/${c.id}/export?format=json`)),
      (e) => e.messages.length === 6 && e.messages.every((m) => m.status !== 'streaming'),
    );
    expect(exported.active_branch).toEqual(exported.messages.map((m) => m.id));
    // No private field: no user id, client ids or metadata.
    const text = JSON.stringify(exported);
    expect(text).not.toContain(alice.userId);
    expect(exported.messages.every((m) => !('metadata' in m) && !('client_message_id' in m))).toBe(true);

    const res = await alice.call('GET', `/conversations/${c.id}/export?format=markdown`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/markdown/);
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="Export me\.md"/);
    const markdown = await res.text();

    // Read back: a title, then one section per message, in the branch's order, each with its text.
    const [head, ...sections] = markdown.split('\n\n---\n\n');
    expect(head?.startsWith('# Export me\n')).toBe(true);
    expect(sections).toHaveLength(6);
    exported.messages.forEach((m, i) => {
      const section = sections[i] ?? '';
      expect(section.startsWith(`## ${m.role === 'user' ? 'You' : 'Agent'} · ${m.created_at.slice(0, 10)}`)).toBe(true);
      if (m.role === 'user') expect(section).toContain(m.content);
    });
    const tool = sections[3] ?? '';
    expect(tool).toMatch(/\*\*Tool call: `calculator`\*\*/);
    expect(tool).toMatch(/Input:\n\n```json\n[^`]*2\*\(3\+4\)/);
    expect(tool).toMatch(/Output:\n\n```json\n[^`]*14/);
    // The echoed reply keeps its fenced code and its table, line for line.
    expect(sections[5]).toContain(CODE_AND_TABLE);
  });

  it('JSON holds every branch and the feedback; Markdown only the active branch', async () => {
    const alice = client(uniqueUser('export'));
    const first = await alice.send(undefined, '!dev words=3\nwhich branch');
    const c = first.conversation.id;
    const rated = await alice.call('PUT', `/messages/${first.reply.id}/feedback`, {
      body: { rating: 'down', comment: 'try again' },
    });
    expect(rated.status).toBe(200);
    const again = await alice.call('POST', `/conversations/${c}/regenerate`, {
      body: { message_id: first.reply.id },
    });
    expect(again.status).toBe(200);
    const { reply } = (await again.json()) as { reply: { id: string } };

    const exported = await eventually(
      async () => ConversationExport.parse(await alice.json('GET', `/conversations/${c}/export?format=json`)),
      (e) => e.messages.length === 3 && e.feedback.length === 1 && e.messages.every((m) => m.status === 'complete'),
    );
    // Both replies to the one question, each following it; the active branch goes through the newer one.
    expect(exported.messages.map((m) => [m.role, m.parent_id])).toEqual([
      ['user', null],
      ['assistant', first.message.id],
      ['assistant', first.message.id],
    ]);
    expect(exported.messages.map((m) => m.id)).toEqual([first.message.id, first.reply.id, reply.id]);
    expect(exported.active_branch).toEqual([first.message.id, reply.id]);
    expect(exported.conversation.head_id).toBe(reply.id);
    expect(exported.feedback).toEqual([
      expect.objectContaining({ message_id: first.reply.id, rating: 'down', comment: 'try again' }),
    ]);

    const markdown = await (await alice.call('GET', `/conversations/${c}/export?format=markdown`)).text();
    const [, ...sections] = markdown.split('\n\n---\n\n');
    expect(sections).toHaveLength(2);
    expect(sections[0]).toContain('which branch');
  });

  it("is 404 for another user's conversation and 400 for an unknown format", async () => {
    const alice = client(uniqueUser('export'));
    const bob = client(uniqueUser('export'));
    const c = await alice.createConversation('private');
    const theirs = await bob.call('GET', `/conversations/${c.id}/export?format=json`);
    expect(theirs.status).toBe(404);
    expect(ErrorEnvelope.parse(await theirs.json()).error.code).toBe('not_found');
    expect((await alice.call('GET', `/conversations/${c.id}/export?format=pdf`)).status).toBe(400);
    expect((await alice.call('GET', `/conversations/${c.id}/export`)).status).toBe(400);
  });
});
