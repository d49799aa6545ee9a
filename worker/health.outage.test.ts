import { exports } from 'cloudflare:workers';
import { afterAll, describe, expect, it } from 'vitest';
import { READYZ_MAX_AGE_MS } from './health';
import { control, eventually } from './test-support';

const postgres = (action: 'stop' | 'start') => control(`/postgres/${action}`);

describe('readiness through a Postgres outage', () => {
  afterAll(() => postgres('start'));

  it('is 503 with postgres down while it is stopped, and 200 again once it is back', async () => {
    await postgres('stop');
    const started = Date.now();
    const down = await exports.default.fetch('http://example.com/readyz');
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ status: 'unavailable', checks: { postgres: 'down', agentcore: 'ok' } });
    expect(Date.now() - started).toBeLessThan(5_000);
    const live = await exports.default.fetch('http://example.com/healthz');
    expect(live.status).toBe(200);

    await postgres('start');
    // Readiness is probed at most every 5 s, so the answer turns within one probe's age of the restart.
    const back = Date.now();
    const up = await eventually(
      () => exports.default.fetch('http://example.com/readyz'),
      (res) => res.status === 200,
    );
    expect(await up.json()).toMatchObject({ status: 'ok', checks: { postgres: 'ok', agentcore: 'ok' } });
    expect(Date.now() - back).toBeLessThan(READYZ_MAX_AGE_MS + 3_000);
  });
});
