import { env, exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { READYZ_MAX_AGE_MS } from './health';
import worker from './index';

const bindings = env as unknown as Record<string, string>;

describe('health', () => {
  it('GET /healthz answers 200 without touching dependencies', async () => {
    const res = await exports.default.fetch('http://example.com/healthz');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual({ status: 'ok', checks: { postgres: 'skipped', agentcore: 'skipped' } });
  });

  it('GET /readyz answers 200 when Postgres and the dev AgentCore answer', async () => {
    const res = await exports.default.fetch('http://example.com/readyz');
    expect(await res.json()).toMatchObject({ status: 'ok', checks: { postgres: 'ok', agentcore: 'ok' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('a flood of /readyz shares one probe, at most 5 s old', async () => {
    // An agent whose probes the control server counts; the Postgres check rides on the same probe.
    const tag = `readyz-${crypto.randomUUID().slice(0, 8)}`;
    const agent = `${bindings.TEST_CONTROL_URL}/probe/${tag}`;
    const probed = { ...bindings, AGENTCORE_PROTOCOL: 'openai', AGENTCORE_URL: agent };
    const asked = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 40 }, () => worker.fetch(new Request('http://127.0.0.1:8787/readyz'), probed)),
    );
    const bodies = (await Promise.all(answers.map((r) => r.json()))) as Array<{ status: string; checked_at: string }>;
    expect(answers.map((r) => r.status)).toEqual(answers.map(() => 200));
    expect(new Set(bodies.map((b) => b.checked_at)).size).toBe(1);
    expect(Date.parse(bodies[0]?.checked_at ?? '')).toBeGreaterThanOrEqual(asked - READYZ_MAX_AGE_MS);
    const count = (await (await fetch(`${agent}/count`)).json()) as { probes: number };
    expect(count.probes).toBe(1);
  });
});
