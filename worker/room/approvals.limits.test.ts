import { describe, expect, it } from 'vitest';
import { client, uniqueUser } from '../test-support';
import { ErrorEnvelope, type Message, SendResult } from '../wire';

const approvalIdOf = (m: Message) =>
  String((m.parts.find((p) => p.type === 'tool-calculator')?.approval as { id?: string } | undefined)?.id);

// Runs with bursts of 5 per user and 3 per conversation (vitest.config.ts); no test here runs long enough to see a
// refill.
describe('tool approvals are rate-limited as sends (SPEC §9)', () => {
  it('spends the conversation’s burst on sends and an answer, and refuses the next answer with 429', async () => {
    const alice = client(uniqueUser('alice'));
    const first = await alice.send(undefined, '!dev approve=calc calc=1+1');
    const c = first.conversation.id;
    const answer = (reply: Message) =>
      alice.call('POST', `/conversations/${c}/approvals`, {
        body: { approval_id: approvalIdOf(reply), approved: true },
      });
    const answered = await answer(first.reply);
    expect(answered.status).toBe(200);
    expect(SendResult.parse(await answered.json()).reply.content).toBe('The result of 1+1 is 2.');
    const second = await alice.send(c, '!dev approve=calc calc=2+2');

    const refused = await answer(second.reply);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(ErrorEnvelope.parse(await refused.json()).error.code).toBe('rate_limited');
    // Refused before anything changed: the approval still waits for a person.
    const last = (await alice.history(c)).messages.at(-1);
    expect(last?.parts.find((p) => p.type === 'tool-calculator')?.state).toBe('approval-requested');
  });
});
