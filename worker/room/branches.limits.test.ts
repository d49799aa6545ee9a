import { describe, expect, it } from 'vitest';
import { client, uniqueUser } from '../test-support';
import { ErrorEnvelope, SendResult } from '../wire';

// Runs with bursts of 5 per user and 3 per conversation (vitest.config.ts); no test here runs long enough to see a
// refill.
describe('edits and regenerates are rate-limited as sends (SPEC §9)', () => {
  it('spends the conversation’s burst on a send, a regenerate and an edit, refuses the next, and not a repeat', async () => {
    const alice = client(uniqueUser('alice'));
    const first = await alice.send(undefined, '!dev words=1');
    const c = first.conversation.id;
    const regenerate = (messageId: string, key: string) =>
      alice.call('POST', `/conversations/${c}/regenerate`, { body: { message_id: messageId, client_message_id: key } });
    const again = await regenerate(first.reply.id, 'r-1');
    expect(again.status).toBe(200);
    const regenerated = SendResult.parse(await again.json());
    const edit = await alice.call('POST', '/messages', {
      body: { conversation_id: c, content: '!dev words=1\nedited', edit_of: first.message.id },
    });
    expect(edit.status).toBe(200);
    const edited = SendResult.parse(await edit.json());

    const refused = await regenerate(edited.reply.id, 'r-2');
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(ErrorEnvelope.parse(await refused.json()).error.code).toBe('rate_limited');
    const editRefused = await alice.call('POST', '/messages', {
      body: { conversation_id: c, content: 'again', edit_of: first.message.id },
    });
    expect(editRefused.status).toBe(429);
    await editRefused.text();

    // A repeat of a regenerate answers what it made and spends nothing.
    const repeat = await regenerate(first.reply.id, 'r-1');
    expect(repeat.status).toBe(200);
    expect(SendResult.parse(await repeat.json()).reply.id).toBe(regenerated.reply.id);
  });
});
