import { describe, expect, it } from 'vitest';
import { client, uniqueUser, wordsOf } from '../test-support';

/**
 * An agent that answers badly ends the reply as error with a code that says how, keeps the text it had sent,
 * and leaves the conversation usable (the room end to end, against the dev agent's hidden failure modes).
 */
describe('a reply from an agent that answers badly', () => {
  for (const [prompt, code, words] of [
    ['!dev words=3 garbage', 'agent_bad_stream', 3],
    ['!dev words=3 unknown_chunk', 'agent_bad_stream', 3],
    ['!dev not_sse', 'agent_bad_stream', 0],
    ['!dev status=500', 'agent_http', 0],
    ['!dev status=401', 'agent_unauthorized', 0],
  ] as const) {
    it(`ends as error ${code} with its partial text: ${prompt}`, async () => {
      const alice = client(uniqueUser('alice'));
      const r = await alice.send(undefined, prompt);
      expect(r.reply.status).toBe('error');
      expect(wordsOf(r.reply.content)).toHaveLength(words);
      expect((r.reply.metadata.error as { code: string }).code).toBe(code);
      const next = await alice.send(r.conversation.id, '!dev words=2');
      expect(next.reply.status).toBe('complete');
    });
  }
});
