import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import worker from './index';
import { client, tokenFor, uniqueUser } from './test-support';
import { API_BASE, ErrorEnvelope } from './wire';

const bindings = env as unknown as Record<string, string>;

/** A request as a DNS-rebinding page sends it: its own name in the URL (Host) and, for a socket, as Origin. */
async function call(environment: Record<string, string>, url: string, init: RequestInit = {}): Promise<Response> {
  return worker.fetch(new Request(url, init), environment);
}

const login = (environment: Record<string, string>, base: string) =>
  call(environment, `${base}/api/v1/dev/login`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'cf-connecting-ip': `198.51.100.${Math.floor(Math.random() * 250)}`,
    },
    body: JSON.stringify({ user: uniqueUser('rebind') }),
  });

describe('a host name pointed at the local stack (DNS rebinding)', () => {
  it('gets no dev login; loopback names and ALLOWED_ORIGINS hosts do', async () => {
    const refused = await login(bindings, 'http://attacker.example:8787');
    expect(refused.status).toBe(403);
    expect(ErrorEnvelope.parse(await refused.json()).error.code).toBe('forbidden');
    for (const base of ['http://127.0.0.1:8787', 'http://localhost:8787', 'http://[::1]:8787']) {
      expect((await login(bindings, base)).status, base).toBe(200);
    }
    const named = { ...bindings, ALLOWED_ORIGINS: 'http://chat.internal:8787' };
    expect((await login(named, 'http://chat.internal:8787')).status).toBe(200);
    expect((await login(named, 'http://chat.internal:9999')).status).toBe(403);
  });

  it('is not its own origin for a WebSocket upgrade', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const token = await tokenFor(alice.userId);
    const socket = async (base: string, environment = bindings) => {
      const res = await call(environment, `${base}${API_BASE}/conversations/${c.id}/ws`, {
        headers: { upgrade: 'websocket', origin: base, authorization: `Bearer ${token}` },
      });
      res.webSocket?.accept();
      res.webSocket?.close(1000, 'done');
      return res.status;
    };
    expect(await socket('http://attacker.example:8787')).toBe(403);
    expect(await socket('http://127.0.0.1:8787')).toBe(101);
    // Where there is no dev login (production), the page's own origin is whatever host routed to the Worker.
    expect(await socket('https://chat.example.com', { ...bindings, DEV_AUTH: 'false' })).toBe(101);
  });
});
