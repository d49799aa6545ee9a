/** Cross-origin use (SPEC §3, §4): the origins in ALLOWED_ORIGINS may call the API from a browser, no other may. */
import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { client, ORIGIN, openSocket, TestSocket, testEnv, tokenFor, uniqueUser } from './test-support';
import { API_BASE, type Conversation } from './wire';

// An origin of the list that is not the Worker's own (tests call http://127.0.0.1:8787).
const DASHBOARD = 'http://localhost:8787';
const FOREIGN = 'https://evil.example';

function preflight(origin: string, method: string, headers: string): Promise<Response> {
  return exports.default.fetch(
    new Request(`${ORIGIN}${API_BASE}/messages`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers },
    }),
  );
}

async function get(origin: string, path: string, token: string): Promise<Response> {
  return exports.default.fetch(
    new Request(`${ORIGIN}${API_BASE}${path}`, { headers: { origin, authorization: `Bearer ${token}` } }),
  );
}

const corsHeaders = (res: Response) => [...res.headers.keys()].filter((k) => k.startsWith('access-control-'));

describe('CORS', () => {
  it('lists the dashboard origin in the test settings', () => {
    expect(testEnv.ALLOWED_ORIGINS?.split(',')).toContain(DASHBOARD);
  });

  it('answers a preflight from an allowed origin with the methods and headers of the spec, no credentials', async () => {
    const res = await preflight(DASHBOARD, 'POST', 'authorization, content-type, last-event-id');
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(DASHBOARD);
    expect(res.headers.get('access-control-allow-methods')).toBe('GET,POST,PUT,PATCH,DELETE');
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toBe(
      'authorization,content-type,last-event-id',
    );
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    expect(res.headers.get('vary')).toMatch(/origin/i);
    expect(res.headers.get('x-request-id')).toBeTruthy();
  });

  it('answers requests from an allowed origin, exposing Retry-After and X-Request-Id', async () => {
    const token = await tokenFor(uniqueUser('cors'));
    const res = await get(DASHBOARD, '/conversations', token);
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(DASHBOARD);
    expect(res.headers.get('access-control-expose-headers')?.toLowerCase()).toBe('retry-after,x-request-id');
    expect(res.headers.get('vary')).toMatch(/origin/i);

    // Errors too, so a dashboard can read the envelope and the request id.
    const refused = await get(DASHBOARD, '/conversations', 'not-a-token');
    expect(refused.status).toBe(401);
    expect(refused.headers.get('access-control-allow-origin')).toBe(DASHBOARD);
  });

  it('passes responses the room answers (SSE) on with the CORS headers', async () => {
    const user = uniqueUser('cors');
    const conversation = await client(user).json<Conversation>('POST', '/conversations', { body: {} }, 201);
    const res = await get(DASHBOARD, `/conversations/${conversation.id}/stream`, await tokenFor(user));
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(DASHBOARD);
    expect(res.headers.get('x-request-id')).toBeTruthy();
  });

  it('gives a foreign origin no CORS header at all, on a preflight or a request', async () => {
    const pre = await preflight(FOREIGN, 'POST', 'authorization, content-type');
    expect(pre.status).not.toBe(204);
    expect(corsHeaders(pre)).toEqual([]);
    const res = await get(FOREIGN, '/conversations', await tokenFor(uniqueUser('cors')));
    expect(corsHeaders(res)).toEqual([]);
  });
});

describe('WebSocket Origin', () => {
  it('opens a socket from an allowed dashboard origin and refuses a foreign one with 403 before the upgrade', async () => {
    const user = uniqueUser('cors');
    const conversation = await client(user).json<Conversation>('POST', '/conversations', { body: {} }, 201);
    const allowed = await openSocket(conversation.id, { userId: user }, { origin: DASHBOARD });
    expect(allowed).toBeInstanceOf(TestSocket);
    if (allowed instanceof TestSocket) {
      await allowed.next('ready');
      allowed.close();
    }
    const refused = await openSocket(conversation.id, { userId: user }, { origin: FOREIGN });
    expect(refused).not.toBeInstanceOf(TestSocket);
    const res = refused as Response;
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: { code: 'forbidden' } });
    expect(corsHeaders(res)).toEqual([]);
  });
});
