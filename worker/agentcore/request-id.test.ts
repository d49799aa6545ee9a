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

  it('continues the caller’s W3C trace to the agent (a new span, the same trace id) and starts one when absent', async () => {
    const alice = client(uniqueUser('alice'));
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await alice.call('POST', '/messages', {
      body: { content: '!dev inspect' },
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    const answered = res.headers.get('traceparent') ?? '';
    expect(answered).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    expect(answered).not.toContain('00f067aa0ba902b7');
    const { reply } = (await res.json()) as { reply: { content: string } };
    expect(reply.content).toContain(` traceparent=${answered}`);

    const fresh = await alice.call('POST', '/messages', {
      body: { content: '!dev inspect' },
      headers: { traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' },
    });
    const started = fresh.headers.get('traceparent') ?? '';
    expect(started).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(started).not.toContain('0000000000000000');
    expect(((await fresh.json()) as { reply: { content: string } }).reply.content).toContain(` traceparent=${started}`);
  });
});
