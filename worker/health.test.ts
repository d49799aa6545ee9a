import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';

describe('health', () => {
  it('GET /healthz answers 200 without touching dependencies', async () => {
    const res = await exports.default.fetch('http://example.com/healthz');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual({ status: 'ok', checks: { postgres: 'skipped', agentcore: 'skipped' } });
  });

  it('GET /readyz answers 200 when Postgres and the dev AgentCore answer', async () => {
    const res = await exports.default.fetch('http://example.com/readyz');
    expect(await res.json()).toEqual({ status: 'ok', checks: { postgres: 'ok', agentcore: 'ok' } });
    expect(res.status).toBe(200);
  });
});
