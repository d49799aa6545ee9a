import { exports } from 'cloudflare:workers';
import { describe, expect, it, vi } from 'vitest';
import { ApiError, errorResponse, toApiError } from './errors';
import { client, ORIGIN, uniqueUser } from './test-support';
import { API_BASE } from './wire';

/** What a stack trace or a source location looks like in text ("    at fn (file.ts:3:9)", "worker/x.ts:12"). */
const TRACE = /\n\s+at |\bat [\w.<>]+ \(|\.[cm]?[jt]sx?:\d+/;

/** The body is exactly the envelope `{error: {code, message}}`, and nothing in it reads like a trace. */
async function expectPlainEnvelope(res: Response, code: string): Promise<void> {
  const text = await res.text();
  expect(JSON.parse(text), text).toEqual({ error: { code, message: expect.any(String) } });
  expect(text).not.toMatch(TRACE);
}

describe('no stack trace in any error', () => {
  it('an unexpected error becomes `internal error` for the caller, its message and stack only in the log', async () => {
    const thrown = new TypeError('secret detail: cannot read properties of undefined');
    expect(thrown.stack).toMatch(TRACE);
    const lines: string[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((line: unknown) => void lines.push(String(line)));
    try {
      const res = errorResponse(thrown, { request_id: 'req-internal' });
      expect(res.status).toBe(500);
      expect(await res.clone().text()).not.toContain('secret detail');
      await expectPlainEnvelope(res, 'internal');
      const frame = toApiError(thrown).toFrame('c-1');
      expect(frame).toEqual({ type: 'error', code: 'internal', message: 'internal error', client_message_id: 'c-1' });
    } finally {
      spy.mockRestore();
    }
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({
      request_id: 'req-internal',
      stack: expect.stringMatching(TRACE),
    });
  });

  it('an ApiError keeps its own message and status, and nothing of its cause', async () => {
    const cause = new Error('driver said: connection refused at 10.0.0.3:5432');
    const res = new ApiError('unavailable', 'the database is unavailable', { cause }).toResponse();
    expect(res.status).toBe(503);
    expect(await res.clone().text()).not.toContain('10.0.0.3');
    await expectPlainEnvelope(res, 'unavailable');
  });

  it('every refusal the Worker answers is the bare envelope with an X-Request-Id', async () => {
    const alice = client(uniqueUser('alice'));
    const other = await client(uniqueUser('bob')).createConversation();
    const huge = JSON.stringify({ content: 'x'.repeat(300 * 1024) });
    const cases: Array<[string, Promise<Response>, number, string]> = [
      [
        'a body that is not JSON',
        alice.call('POST', '/messages', { raw: '{"content":', headers: json }),
        400,
        'invalid_request',
      ],
      ['an unknown field', alice.call('POST', '/conversations', { body: { colour: 'red' } }), 400, 'invalid_request'],
      ['a malformed id', alice.call('GET', '/conversations/not-a-uuid'), 400, 'invalid_request'],
      ['no token', exports.default.fetch(`${ORIGIN}${API_BASE}/conversations`), 401, 'unauthorized'],
      ['a bad token', withToken('not.a.token'), 401, 'unauthorized'],
      ["another user's conversation", alice.call('GET', `/conversations/${other.id}`), 404, 'not_found'],
      ['an unknown route', alice.call('GET', '/nowhere'), 404, 'not_found'],
      ['a body over 256 KiB', alice.call('POST', '/messages', { raw: huge, headers: json }), 413, 'payload_too_large'],
      [
        'a socket without a ticket',
        alice.call('GET', `/conversations/${other.id}/ws`, { headers: upgrade }),
        404,
        'not_found',
      ],
    ];
    for (const [name, pending, status, code] of cases) {
      const res = await pending;
      expect(res.status, name).toBe(status);
      expect(res.headers.get('x-request-id'), name).toMatch(/^[0-9a-f-]{36}$/);
      await expectPlainEnvelope(res, code);
    }
  });
});

describe('X-Request-Id on every response', () => {
  it('is on successes of every kind (201, 200, SSE, 204) and on the health checks, the caller’s own when it sent one', async () => {
    const alice = client(uniqueUser('alice'));
    const created = await alice.call('POST', '/conversations', { body: {}, headers: { 'x-request-id': 'req-create' } });
    expect(created.status).toBe(201);
    expect(created.headers.get('x-request-id')).toBe('req-create');
    const { id } = (await created.json()) as { id: string };
    const responses: Array<[string, Response]> = [
      ['list', await alice.call('GET', '/conversations')],
      ['rename', await alice.call('PATCH', `/conversations/${id}`, { body: { title: 'named' } })],
      ['history', await alice.call('GET', `/conversations/${id}/messages`)],
      ['stream when idle (204)', await alice.call('GET', `/conversations/${id}/stream`)],
      ['an SSE send', await alice.sendStreaming(id, '!dev words=2')],
      ['a ticket', await alice.call('POST', '/ws-ticket', { body: { conversation_id: id } })],
      ['stop', await alice.call('POST', `/conversations/${id}/stop`)],
      ['delete', await alice.call('DELETE', `/conversations/${id}`)],
      ['healthz', await exports.default.fetch(`${ORIGIN}/healthz`)],
      ['readyz', await exports.default.fetch(`${ORIGIN}/readyz`)],
      ['openapi', await exports.default.fetch(`${ORIGIN}/api/v1/openapi.json`)],
    ];
    for (const [name, res] of responses) {
      expect(res.status, name).toBeLessThan(300);
      expect(res.headers.get('x-request-id'), name).toMatch(/^[0-9a-f-]{36}$/);
      await res.body?.cancel();
    }
  });

  it('replaces a caller’s id that is not a plain token (too long, or with spaces) with one of its own', async () => {
    const alice = client(uniqueUser('alice'));
    for (const given of ['x'.repeat(129), 'has spaces in it', 'semi;colon']) {
      const res = await alice.call('GET', '/conversations', { headers: { 'x-request-id': given } });
      expect(res.headers.get('x-request-id'), given).toMatch(/^[0-9a-f-]{36}$/);
    }
  });
});

const json = { 'content-type': 'application/json' };
const upgrade = { upgrade: 'websocket', connection: 'Upgrade' };

function withToken(token: string): Promise<Response> {
  return exports.default.fetch(`${ORIGIN}${API_BASE}/conversations`, { headers: { authorization: `Bearer ${token}` } });
}
