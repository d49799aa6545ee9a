import { createLocalJWKSet, decodeProtectedHeader, importSPKI, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startJwksServer } from './jwks-server';

let server: Awaited<ReturnType<typeof startJwksServer>>;

beforeAll(async () => {
  server = await startJwksServer({ port: 0 });
});
afterAll(async () => {
  await server.close();
});

async function jwks(): Promise<{ keys: Array<{ kid: string; alg: string; kty: string }> }> {
  const res = await fetch(`${server.base}/.well-known/jwks.json`);
  expect(res.status).toBe(200);
  return (await res.json()) as { keys: Array<{ kid: string; alg: string; kty: string }> };
}

async function sign(body: unknown): Promise<Response> {
  return fetch(`${server.base}/sign`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function token(body: unknown): Promise<string> {
  const res = await sign(body);
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

describe('jwks server', () => {
  it('publishes one RS256 and one ES256 key, each with a kid', async () => {
    const { keys } = await jwks();
    expect(keys.map((k) => [k.alg, k.kty])).toEqual([
      ['RS256', 'RSA'],
      ['ES256', 'EC'],
    ]);
    for (const k of keys) expect(k.kid).toMatch(/^[\w-]{20,}$/);
    expect(JSON.stringify(keys)).not.toMatch(/"(d|p|q|dp|dq|qi)"/);
  });

  it.each(['RS256', 'ES256'] as const)('signs %s tokens that verify against the published keys', async (alg) => {
    const jwt = await token({ claims: { sub: 'ada', iss: 'auth' }, alg, expiresIn: '1h' });
    const { payload, protectedHeader } = await jwtVerify(jwt, createLocalJWKSet(await jwks()), { issuer: 'auth' });
    expect(payload.sub).toBe('ada');
    expect(protectedHeader.alg).toBe(alg);
    expect(payload.exp).toBeGreaterThan(Date.now() / 1000 + 3500);
  });

  it('takes expiresIn in seconds, relative to now, and a kid override', async () => {
    const jwt = await token({ claims: { sub: 'ada' }, alg: 'RS256', kid: 'nope', expiresIn: -60 });
    expect(decodeProtectedHeader(jwt).kid).toBe('nope');
    const [, body = ''] = jwt.split('.');
    const payload = JSON.parse(Buffer.from(body, 'base64url').toString()) as { exp: number };
    expect(payload.exp).toBeLessThan(Date.now() / 1000 - 50);
  });

  it('serves the current RSA public key as PEM', async () => {
    const res = await fetch(`${server.base}/public-pem?alg=RS256`);
    const pem = await res.text();
    expect(pem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    const jwt = await token({ claims: { sub: 'ada' }, alg: 'RS256' });
    await expect(jwtVerify(jwt, await importSPKI(pem, 'RS256'))).resolves.toBeTruthy();
  });

  it('rotation replaces both keys: old kids gone, old tokens no longer verify', async () => {
    const before = await jwks();
    const old = await token({ claims: { sub: 'ada' }, alg: 'ES256' });
    const res = await fetch(`${server.base}/rotate`, { method: 'POST' });
    expect(res.status).toBe(200);
    const after = await jwks();
    const oldKids = before.keys.map((k) => k.kid);
    expect(after.keys).toHaveLength(2);
    for (const k of after.keys) expect(oldKids).not.toContain(k.kid);
    await expect(jwtVerify(old, createLocalJWKSet(after))).rejects.toThrow();
    const fresh = await token({ claims: { sub: 'ada' }, alg: 'ES256' });
    await expect(jwtVerify(fresh, createLocalJWKSet(after))).resolves.toBeTruthy();
  });

  it('rejects a bad sign request with 400', async () => {
    expect((await sign({ claims: {}, alg: 'HS256' })).status).toBe(400);
    const notJson = await fetch(`${server.base}/sign`, { method: 'POST', body: '{' });
    expect(notJson.status).toBe(400);
  });
});
