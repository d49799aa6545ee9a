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
  it('parses the Worker’s settings once into typed values', () => {
    const config = loadConfig(env);
    expect(config).toBe(loadConfig(env));
    expect(config.RATE_LIMIT_USER_BURST).toBe(Number(base().RATE_LIMIT_USER_BURST));
    expect(config.DEV_AUTH).toBe(true);
    expect(config.ALLOWED_ORIGINS).toEqual(['http://127.0.0.1:8787', 'http://localhost:8787']);
  });

  it('gives every setting left out its SPEC default', () => {
    // Only what has no default: the tests' own bindings set every value, so no default is exercised there.
    const config = loadConfig({
      DATABASE_URL: 'postgres://u:p@db.example/app',
      AGENTCORE_URL: 'https://agent.example/v1/agent',
      AUTH_JWT_SECRET: 'x'.repeat(32),
    });
    expect(config).toMatchObject({
      DEV_AUTH: false,
      AGENTCORE_TOKEN: '',
      AGENTCORE_PROTOCOL: 'ui-stream',
      AGENTCORE_MODEL: 'gpt-4o-mini',
      AGENTCORE_HISTORY_LIMIT: 50,
      AGENTCORE_HISTORY_MAX_BYTES: 1_048_576,
      AGENTCORE_FIRST_CHUNK_TIMEOUT_MS: 30_000,
      AGENTCORE_IDLE_TIMEOUT_MS: 60_000,
      ALLOWED_ORIGINS: [],
      RATE_LIMIT_USER_PER_MINUTE: 20,
      RATE_LIMIT_USER_BURST: 5,
      RATE_LIMIT_CONVERSATION_PER_MINUTE: 20,
      RATE_LIMIT_CONVERSATION_BURST: 5,
      MAX_SOCKETS_PER_CONVERSATION: 64,
      WS_TICKET_TTL_SECONDS: 60,
      WS_PING_TIMEOUT_SECONDS: 75,
      LOG_LEVEL: 'info',
    });
    expect(config.NEON_WS_PROXY).toBeUndefined();
    expect(config.AUTH_JWKS_URL).toBeUndefined();
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
