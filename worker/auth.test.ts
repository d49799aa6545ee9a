import { env, exports } from 'cloudflare:workers';
import { Hono } from 'hono';
import { base64url, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { type AuthVariables, authenticate, devLogin, JWKS_COOLDOWN_MS, requireAuth } from './auth';
import { type Config, loadConfig } from './config';
import { ApiError, errorResponse } from './errors';
import { eventually } from './test-support';
import { DevLoginResult, ErrorEnvelope } from './wire';

// Test-only bindings (vitest.config.ts) are not part of the Worker's Env type.
const bindings = env as unknown as Record<string, string>;
const jwksBase = bindings.TEST_JWKS_BASE ?? '';
const secret = bindings.AUTH_JWT_SECRET ?? '';
const ISS = 'agent-chat-dev';
const AUD = 'agent-chat';
const now = () => Math.floor(Date.now() / 1000);
const good = () => ({ sub: 'alice', iss: ISS, aud: AUD, exp: now() + 3600 });

const hsConfig = loadConfig(env);

/** A JWKS config of its own (the query string keys a fresh key-set cache) so tests don't share cooldowns. */
function jwksConfig(tag: string, opts: { withSecret?: boolean } = {}): Config {
  const url = `${jwksBase}/.well-known/jwks.json?suite=${tag}`;
  const { AUTH_JWT_SECRET: _secret, ...rest } = bindings;
  return loadConfig({ ...rest, ...(opts.withSecret ? { AUTH_JWT_SECRET: secret } : {}), AUTH_JWKS_URL: url });
}

async function hs256(claims: Record<string, unknown>, key: string | Uint8Array = secret): Promise<string> {
  const bytes = typeof key === 'string' ? new TextEncoder().encode(key) : key;
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(bytes);
}

async function signed(alg: 'RS256' | 'ES256', claims: Record<string, unknown>, kid?: string): Promise<string> {
  const res = await fetch(`${jwksBase}/sign`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ claims, alg, ...(kid ? { kid } : {}) }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

function unsecured(claims: Record<string, unknown>): string {
  const part = (o: unknown) => base64url.encode(JSON.stringify(o));
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`;
}

async function rsaPublicPem(): Promise<string> {
  const res = await fetch(`${jwksBase}/public-pem?alg=RS256`);
  expect(res.status).toBe(200);
  return res.text();
}

/** Swaps the payload for another one, keeping the original signature. */
function withForeignPayload(token: string, claims: Record<string, unknown>): string {
  const [header, , signature] = token.split('.');
  return `${header}.${base64url.encode(JSON.stringify(claims))}.${signature}`;
}

async function rejection(config: Config, authorization: string | null): Promise<ApiError> {
  const err = await authenticate(config, authorization).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  return err as ApiError;
}

async function expectUnauthorized(config: Config, authorization: string | null, message: RegExp): Promise<void> {
  const err = await rejection(config, authorization);
  expect({ code: err.code, status: err.status }).toEqual({ code: 'unauthorized', status: 401 });
  expect(err.message).toMatch(message);
}

type Case = { name: string; header: () => Promise<string | null>; message: RegExp };

/** Every way a request to an HS256-configured Worker must be refused. */
const hsCases: Case[] = [
  { name: 'missing header', header: async () => null, message: /missing Authorization/ },
  { name: 'wrong scheme', header: async () => `Basic ${btoa('alice:pw')}`, message: /Bearer/ },
  { name: 'scheme without token', header: async () => 'Bearer', message: /Bearer/ },
  { name: 'malformed token', header: async () => 'Bearer not.a.jwt', message: /^malformed token$/ },
  { name: 'garbage token', header: async () => 'Bearer %%%', message: /^malformed token$/ },
  {
    name: 'bad signature',
    header: async () => `Bearer ${await hs256(good(), 'another-secret-that-is-long-enough-123')}`,
    message: /^invalid token signature$/,
  },
  {
    name: 'expired',
    header: async () => `Bearer ${await hs256({ ...good(), exp: now() - 60 })}`,
    message: /^token expired$/,
  },
  {
    name: 'not yet valid',
    header: async () => `Bearer ${await hs256({ ...good(), nbf: now() + 60 })}`,
    message: /^token not yet valid$/,
  },
  {
    name: 'wrong iss',
    header: async () => `Bearer ${await hs256({ ...good(), iss: 'someone-else' })}`,
    message: /^wrong token issuer$/,
  },
  {
    name: 'wrong aud',
    header: async () => `Bearer ${await hs256({ ...good(), aud: 'other-app' })}`,
    message: /^wrong token audience$/,
  },
  { name: 'alg none', header: async () => `Bearer ${unsecured(good())}`, message: /algorithm not allowed/ },
  {
    name: 'RS256 token without a JWKS configured',
    header: async () => `Bearer ${await signed('RS256', good())}`,
    message: /algorithm not allowed/,
  },
  {
    name: 'no sub',
    header: async () => `Bearer ${await hs256({ ...good(), sub: undefined })}`,
    message: /sub/,
  },
  { name: 'empty sub', header: async () => `Bearer ${await hs256({ ...good(), sub: '' })}`, message: /sub/ },
  {
    name: 'sub longer than 256',
    header: async () => `Bearer ${await hs256({ ...good(), sub: 'a'.repeat(257) })}`,
    message: /sub/,
  },
  { name: 'sub not a string', header: async () => `Bearer ${await hs256({ ...good(), sub: 42 })}`, message: /sub/ },
  {
    name: 'no exp',
    header: async () => `Bearer ${await hs256({ ...good(), exp: undefined })}`,
    message: /exp/,
  },
];

describe('authenticate with AUTH_JWT_SECRET (HS256)', () => {
  it('accepts a good HS256 token; sub is the user id', async () => {
    const token = await hs256({ ...good(), sub: 'ada@example.com' });
    await expect(authenticate(hsConfig, `Bearer ${token}`)).resolves.toMatchObject({ userId: 'ada@example.com' });
    await expect(authenticate(hsConfig, `bearer  ${token}`)).resolves.toMatchObject({ userId: 'ada@example.com' });
  });

  it('tolerates a few seconds of clock skew, not more', async () => {
    const token = await hs256({ ...good(), exp: now() - 2, nbf: now() + 2 });
    await expect(authenticate(hsConfig, `Bearer ${token}`)).resolves.toMatchObject({ userId: 'alice' });
  });

  it('accepts a 256-character sub', async () => {
    const sub = 'u'.repeat(256);
    await expect(authenticate(hsConfig, `Bearer ${await hs256({ ...good(), sub })}`)).resolves.toMatchObject({
      userId: sub,
    });
  });

  it.each(hsCases)('refuses: $name', async ({ header, message }) => {
    await expectUnauthorized(hsConfig, await header(), message);
  });

  it("keeps jose's wording out of the message", async () => {
    const err = await rejection(hsConfig, `Bearer ${await hs256({ ...good(), exp: now() - 60 })}`);
    expect(err.message).not.toMatch(/"exp" claim timestamp check failed/);
    expect(err.cause).toBeInstanceOf(Error);
  });
});

describe('authenticate with AUTH_JWKS_URL (RS256/ES256)', () => {
  it.each(['RS256', 'ES256'] as const)('accepts a good %s token', async (alg) => {
    const config = jwksConfig(`good-${alg}`);
    const token = await signed(alg, { ...good(), sub: `bob-${alg}` });
    await expect(authenticate(config, `Bearer ${token}`)).resolves.toMatchObject({ userId: `bob-${alg}` });
  });

  it('refuses HS256 signed with the RSA public key PEM as the secret (RS/HS confusion)', async () => {
    const confused = await hs256(good(), await rsaPublicPem());
    await expectUnauthorized(jwksConfig('confusion'), `Bearer ${confused}`, /algorithm not allowed/);
    // With a secret configured too, HS256 goes to the secret only, never to the JWKS key.
    await expectUnauthorized(
      jwksConfig('confusion-mixed', { withSecret: true }),
      `Bearer ${confused}`,
      /^invalid token signature$/,
    );
  });

  it('refuses a token whose signature does not match its payload', async () => {
    const token = await signed('RS256', good());
    const forged = withForeignPayload(token, { ...good(), sub: 'mallory' });
    await expectUnauthorized(jwksConfig('forged'), `Bearer ${forged}`, /^invalid token signature$/);
  });

  it('refuses an unknown kid', async () => {
    const token = await signed('ES256', good(), 'no-such-kid');
    await expectUnauthorized(jwksConfig('unknown-kid'), `Bearer ${token}`, /^unknown signing key$/);
  });

  it('checks exp, iss, aud and alg none against the JWKS path too', async () => {
    const config = jwksConfig('claims');
    const expired = await signed('RS256', { ...good(), exp: now() - 60 });
    await expectUnauthorized(config, `Bearer ${expired}`, /^token expired$/);
    await expectUnauthorized(config, `Bearer ${await signed('ES256', { ...good(), iss: 'x' })}`, /issuer/);
    await expectUnauthorized(config, `Bearer ${await signed('ES256', { ...good(), aud: 'x' })}`, /audience/);
    await expectUnauthorized(config, `Bearer ${unsecured(good())}`, /algorithm not allowed/);
  });

  it('answers 503 unavailable when the key set cannot be fetched', async () => {
    const { AUTH_JWT_SECRET: _secret, ...rest } = bindings;
    const config = loadConfig({ ...rest, AUTH_JWKS_URL: `${jwksBase}/no-such-jwks.json` });
    const err = await rejection(config, `Bearer ${await signed('RS256', good())}`);
    expect({ code: err.code, status: err.status }).toEqual({ code: 'unavailable', status: 503 });
  });
});

describe('requireAuth', () => {
  const app = new Hono<{ Bindings: Env; Variables: AuthVariables }>()
    .use(requireAuth)
    .get('/me', (c) => c.json({ userId: c.get('userId') }))
    .onError((err) => errorResponse(err));

  it('sets userId from a good token', async () => {
    const res = await app.request('/me', { headers: { authorization: `Bearer ${await hs256(good())}` } }, env);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ userId: 'alice' });
  });

  it('answers 401 in the JSON envelope', async () => {
    const res = await app.request('/me', {}, env);
    expect(res.status).toBe(401);
    expect(ErrorEnvelope.parse(await res.json()).error.code).toBe('unauthorized');
  });
});

/** The dev login as the Worker mounts it: its refusals are answered by the app's error handler. */
const devApp = new Hono<{ Bindings: Env }>().route('/', devLogin).onError((err) => errorResponse(err));

describe('dev login', () => {
  const login = (body: unknown, environment: object = env) =>
    devApp.request(
      '/login',
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      },
      environment,
    );

  it('hands out a token that authenticates as that user', async () => {
    const res = await login({ user: 'dev.user@example-1_x' });
    expect(res.status).toBe(200);
    const { token, user } = DevLoginResult.parse(await res.json());
    expect(user).toBe('dev.user@example-1_x');
    await expect(authenticate(hsConfig, `Bearer ${token}`)).resolves.toMatchObject({ userId: user });
  });

  it.each([
    ['no user', {}],
    ['empty user', { user: '' }],
    ['too long', { user: 'a'.repeat(65) }],
    ['bad characters', { user: 'a b' }],
    ['unknown field', { user: 'a', admin: true }],
    ['not JSON', '{"user":'],
  ])('400 on bad input: %s', async (_name, body) => {
    const res = await login(body);
    expect(res.status).toBe(400);
    expect(ErrorEnvelope.parse(await res.json()).error.code).toBe('invalid_request');
  });

  it('404 in the envelope when DEV_AUTH is off', async () => {
    const res = await login({ user: 'alice' }, { ...bindings, DEV_AUTH: 'false' });
    expect(res.status).toBe(404);
    expect(ErrorEnvelope.parse(await res.json()).error.code).toBe('not_found');
  });
});

describe('through the Worker', () => {
  const conversations = 'http://example.com/api/v1/chat/conversations';

  it.each(hsCases)('GET /api/v1/chat/conversations → 401 envelope: $name', async ({ header, message }) => {
    const authorization = await header();
    const res = await exports.default.fetch(conversations, {
      headers: authorization === null ? {} : { authorization },
    });
    expect(res.status).toBe(401);
    const { error } = ErrorEnvelope.parse(await res.json());
    expect(error.code).toBe('unauthorized');
    expect(error.message).toMatch(message);
  });

  it('HS256 signed with the RSA public PEM → 401 envelope', async () => {
    const confused = await hs256(good(), await rsaPublicPem());
    const res = await exports.default.fetch(conversations, { headers: { authorization: `Bearer ${confused}` } });
    expect(res.status).toBe(401);
    expect(ErrorEnvelope.parse(await res.json()).error.code).toBe('unauthorized');
  });

  it('a good token gets through', async () => {
    const res = await exports.default.fetch(conversations, {
      headers: { authorization: `Bearer ${await hs256({ ...good(), sub: `route-${crypto.randomUUID()}` })}` },
    });
    expect(res.status).toBe(200);
  });

  it('POST /api/v1/dev/login → a token the API accepts', async () => {
    const res = await exports.default.fetch('http://127.0.0.1:8787/api/v1/dev/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: `dev-${crypto.randomUUID().slice(0, 8)}` }),
    });
    expect(res.status).toBe(200);
    const { token } = DevLoginResult.parse(await res.json());
    const list = await exports.default.fetch(conversations, { headers: { authorization: `Bearer ${token}` } });
    expect(list.status).toBe(200);
  });
});

// Last: rotation replaces the server's keys, which the other suites' cached key sets would otherwise trip over.
describe('JWKS key rotation', () => {
  it("picks up rotated keys without a restart; the old key's tokens then fail", async () => {
    const config = jwksConfig('rotation');
    const before = await signed('RS256', good());
    // This suite's key set URL is its own: this first use fetches the keys and starts the cooldown.
    const fetchedAt = Date.now();
    await expect(authenticate(config, `Bearer ${before}`)).resolves.toMatchObject({ userId: 'alice' });

    expect((await fetch(`${jwksBase}/rotate`, { method: 'POST' })).status).toBe(200);
    const after = await signed('RS256', { ...good(), sub: 'after-rotation' });
    // Within the cooldown an unknown kid does not refetch: a flood of made-up kids can't hammer the auth service.
    await expectUnauthorized(config, `Bearer ${after}`, /^unknown signing key$/);

    // The new key is taken once the cooldown has passed, not before: waited for, not slept through.
    const accepted = () =>
      authenticate(config, `Bearer ${after}`).then(
        (who) => who.userId,
        () => null,
      );
    expect(await eventually(accepted, (who) => who !== null, JWKS_COOLDOWN_MS * 3)).toBe('after-rotation');
    expect(Date.now() - fetchedAt).toBeGreaterThanOrEqual(JWKS_COOLDOWN_MS);
    await expectUnauthorized(config, `Bearer ${before}`, /^unknown signing key$/);
  }, 20_000);
});

describe('AUTH_MAX_TOKEN_AGE_SECONDS', () => {
  const aged = loadConfig({ ...bindings, AUTH_MAX_TOKEN_AGE_SECONDS: '600' });

  it('refuses a token issued longer ago than the maximum age, whatever its exp', async () => {
    const old = await hs256({ ...good(), iat: now() - 601 - 5, exp: now() + 3600 });
    await expectUnauthorized(aged, `Bearer ${old}`, /^token too old$/);
    await expect(authenticate(hsConfig, `Bearer ${old}`)).resolves.toMatchObject({ userId: 'alice' });
  });

  it('refuses a token without iat, which cannot show its age', async () => {
    await expectUnauthorized(aged, `Bearer ${await hs256(good())}`, /iat/);
  });

  it('accepts a token younger than the maximum age', async () => {
    const iat = now() - 590;
    const fresh = await hs256({ ...good(), iat });
    // Good until iat + the maximum age, which comes before its exp: an open socket is closed then (SPEC §4).
    await expect(authenticate(aged, `Bearer ${fresh}`)).resolves.toEqual({
      userId: 'alice',
      tokenExpiresAt: (iat + 600) * 1000,
    });
  });
});

describe('dev login rate limit', () => {
  const limited = { ...bindings, DEV_LOGIN_PER_MINUTE: '3' };
  const login = (ip: string) =>
    devApp.request(
      '/login',
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'cf-connecting-ip': ip },
        body: JSON.stringify({ user: 'alice' }),
      },
      limited,
    );

  it('refuses a client past DEV_LOGIN_PER_MINUTE with 429 and Retry-After; other clients still sign in', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await login('192.0.2.1')).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const refused = await login('192.0.2.1');
    expect(ErrorEnvelope.parse(await refused.json()).error.code).toBe('rate_limited');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await login('192.0.2.2')).status).toBe(200);
  });
});
