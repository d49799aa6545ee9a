import { env } from 'cloudflare:workers';
import { describe, expect, it, vi } from 'vitest';
import { ConfigError, loadConfig } from './config';
import worker from './index';
import { ErrorEnvelope } from './wire';

const base = (): Record<string, string> => ({ ...(env as unknown as Record<string, string>) });

function failure(vars: Record<string, unknown>): string {
  try {
    loadConfig(vars);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected the configuration to be refused');
}

describe('configuration', () => {
  it('parses the Worker’s settings once into typed values with defaults', () => {
    const config = loadConfig(env);
    expect(config).toBe(loadConfig(env));
    expect(typeof config.RATE_LIMIT_USER_BURST).toBe('number');
    expect(config.AGENTCORE_PROTOCOL).toBe('ui-stream');
    expect(Array.isArray(config.ALLOWED_ORIGINS)).toBe(true);
  });

  it('names a missing setting', () => {
    const { DATABASE_URL: _d, ...rest } = base();
    expect(failure(rest)).toMatch(/DATABASE_URL/);
  });

  it('names a bad setting', () => {
    expect(failure({ ...base(), AGENTCORE_PROTOCOL: 'grpc' })).toMatch(/AGENTCORE_PROTOCOL/);
    expect(failure({ ...base(), RATE_LIMIT_USER_BURST: 'many' })).toMatch(/RATE_LIMIT_USER_BURST/);
    expect(failure({ ...base(), AGENTCORE_URL: 'not a url' })).toMatch(/AGENTCORE_URL/);
  });

  it('needs a way to check tokens', () => {
    const { AUTH_JWT_SECRET: _s, AUTH_JWKS_URL: _j, ...rest } = base();
    expect(failure(rest)).toMatch(/AUTH_JWT_SECRET/);
    expect(failure({ ...base(), AUTH_JWT_SECRET: 'short' })).toMatch(/AUTH_JWT_SECRET: must be at least 32/);
  });

  it('with AUTH_JWKS_URL, requires AUTH_ISSUER and AUTH_AUDIENCE', () => {
    const { AUTH_ISSUER: _i, AUTH_AUDIENCE: _a, ...rest } = base();
    const jwks = { ...rest, AUTH_JWKS_URL: 'https://auth.example.com/.well-known/jwks.json' };
    expect(failure(jwks)).toMatch(/AUTH_ISSUER: required with AUTH_JWKS_URL/);
    expect(failure(jwks)).toMatch(/AUTH_AUDIENCE: required with AUTH_JWKS_URL/);
    expect(failure({ ...jwks, AUTH_ISSUER: 'https://auth.example.com/' })).not.toMatch(/AUTH_ISSUER/);
    expect(loadConfig({ ...jwks, AUTH_ISSUER: 'https://auth.example.com/', AUTH_AUDIENCE: 'chat' })).toMatchObject({
      AUTH_ISSUER: 'https://auth.example.com/',
      AUTH_AUDIENCE: 'chat',
    });
  });

  it('a Worker missing them answers every API call 503 unavailable and logs why', async () => {
    const { AUTH_AUDIENCE: _a, ...rest } = base();
    const broken = { ...rest, AUTH_JWKS_URL: 'https://auth.example.com/.well-known/jwks.json' };
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const calls: Array<[string, string, string?]> = [
        ['GET', '/api/v1/chat/conversations'],
        ['POST', '/api/v1/chat/conversations', '{}'],
        ['GET', `/api/v1/chat/conversations/${crypto.randomUUID()}/messages`],
        ['POST', '/api/v1/chat/messages', '{"content":"hi"}'],
        ['GET', `/api/v1/chat/conversations/${crypto.randomUUID()}/ws`],
        ['POST', '/api/v1/dev/login', '{"user":"alice"}'],
      ];
      for (const [method, path, body] of calls) {
        const res = await worker.fetch(
          new Request(`http://127.0.0.1:8787${path}`, {
            method,
            body,
            headers: { authorization: 'Bearer x.y.z', 'content-type': 'application/json', upgrade: 'websocket' },
          }),
          broken,
        );
        const { error } = ErrorEnvelope.parse(await res.json());
        expect(`${method} ${path} → ${res.status} ${error.code}`).toBe(`${method} ${path} → 503 unavailable`);
        expect(error.message).not.toMatch(/AUTH_AUDIENCE/);
      }
      const lines = logged.mock.calls.map((args) => String(args[0]));
      expect(lines.filter((l) => /AUTH_AUDIENCE: required with AUTH_JWKS_URL/.test(l))).toHaveLength(calls.length);
    } finally {
      logged.mockRestore();
    }
  });
});
