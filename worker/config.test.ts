import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config';

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
});
