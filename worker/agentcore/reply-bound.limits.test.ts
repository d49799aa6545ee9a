import { describe, expect, it } from 'vitest';
import { allEvents, client, eventually, pgQuery, testEnv, uniqueUser } from '../test-support';
import { ConversationList } from '../wire';

const bound = Number(testEnv.AGENTCORE_MAX_REPLY_BYTES);

// Several sends, reads and a Postgres round trip each: on a loaded machine one test can take over 30 s.
describe('the reply bound (AGENTCORE_MAX_REPLY_BYTES)', { timeout: 90_000 }, () => {
  it('is 256 KiB in this project', () => {
    expect(bound).toBe(262_144);
  });

  it('ends a reply that grows past it as error reply_too_large with its text so far, and disturbs nothing else', async () => {
    const alice = client(uniqueUser('alice'));
    // ~600 KB of text, ~6 MB of stream: 400,000 words (2.4 MB) streamed for a minute and then failed its final save.
    const r = await alice.send(undefined, '!dev words=100000');
    expect(r.reply.status).toBe('error');
    expect(r.reply.metadata.error).toMatchObject({ code: 'reply_too_large' });
    const short = await alice.send(undefined, '!dev words=50');
    expect(r.reply.content.startsWith(short.reply.content)).toBe(true);
    expect(new TextEncoder().encode(r.reply.content).byteLength).toBeLessThan(bound);

    // The conversation, the list, Postgres and the next send all carry on.
    const id = r.conversation.id;
    const next = await alice.send(id, '!dev words=3');
    expect(next.reply.status).toBe('complete');
    const page = await alice.history(id);
    expect(page.messages.map((m) => m.status)).toEqual(['complete', 'error', 'complete', 'complete']);
    expect(page.messages[1]?.content).toBe(r.reply.content);
    const list = ConversationList.parse(await alice.json('GET', '/conversations'));
    expect(list.conversations.map((c) => c.id)).toContain(id);
    const rows = await eventually(
      () =>
        pgQuery<{ status: string }>(
          'select status from conversation_messages where conversation_id = $1 order by seq',
          [id],
        ),
      (x) => x.length === 4,
    );
    expect(rows.map((x) => x.status)).toEqual(['complete', 'error', 'complete', 'complete']);
  });

  it('ends the SSE stream of such a reply with an error chunk naming the bound, then [DONE]', async () => {
    const alice = client(uniqueUser('alice'));
    const res = await alice.sendStreaming(undefined, '!dev words=100000');
    expect(res.status).toBe(200);
    const events = await allEvents(res);
    expect(events.at(-1)?.data).toBe('[DONE]');
    const last = JSON.parse(events.at(-2)?.data ?? '{}') as { type: string; errorText?: string };
    expect(last.type).toBe('error');
    expect(last.errorText).toMatch(/longer than 262144 bytes/);
  });
});
