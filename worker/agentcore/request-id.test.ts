import { describe, expect, it } from 'vitest';
import { client, uniqueUser } from '../test-support';

describe('the request id', () => {
  it('the edge’s request id reaches the agent as X-Request-Id, for JSON and SSE sends', async () => {
    const alice = client(uniqueUser('alice'));
    const res = await alice.call('POST', '/messages', {
      body: { content: '!dev inspect' },
      headers: { 'x-request-id': 'req-json-1' },
    });
    expect(res.headers.get('x-request-id')).toBe('req-json-1');
    const { reply } = (await res.json()) as { reply: { content: string } };
    expect(reply.content).toContain(' request_id=req-json-1 trigger=submit-message ');
    const streamed = await alice.call('POST', '/messages', {
      body: { content: '!dev inspect' },
      headers: { 'x-request-id': 'req-sse-1', accept: 'text/event-stream' },
    });
    expect(await streamed.text()).toContain('request_id=req-sse-1 ');
  });
});
