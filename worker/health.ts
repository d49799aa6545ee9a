import { Hono } from 'hono';
import { checkAgent } from './agentcore/bridge';
import { type Config, loadConfig } from './config';
import { bounded, checkPostgres } from './db/client';
import type { Readiness } from './wire';

type Check = 'ok' | 'down';

const NO_STORE = { 'cache-control': 'no-store' };

/**
 * One probe serves every /readyz of the next 5 s in this isolate: a flood of readiness checks must not open
 * a Postgres connection (and call the agent) per request.
 */
export const READYZ_MAX_AGE_MS = 5_000;
/** Each check gives up after 2 s; a caller waiting on another request's probe stops waiting after this. */
const PROBE_BOUND_MS = 3_000;

const probes = new WeakMap<Config, { startedAt: number; result: Promise<Readiness> }>();

async function probe(config: Config): Promise<Readiness> {
  const checkedAt = new Date().toISOString();
  const [postgres, agentcore] = await Promise.all([
    checkPostgres(config).then(toCheck, () => 'down' as const),
    checkAgent(config).then(toCheck, () => 'down' as const),
  ]);
  const ready = postgres === 'ok' && agentcore === 'ok';
  return { status: ready ? 'ok' : 'unavailable', checks: { postgres, agentcore }, checked_at: checkedAt };
}

function readiness(config: Config): Promise<Readiness> {
  const now = Date.now();
  const last = probes.get(config);
  if (last && now - last.startedAt < READYZ_MAX_AGE_MS) {
    // The probe may belong to a request that was cancelled meanwhile; then this one probes for itself.
    return bounded(PROBE_BOUND_MS, () => last.result).catch(() => probe(config));
  }
  const result = probe(config);
  probes.set(config, { startedAt: now, result });
  return result;
}

/** GET /healthz (liveness: the isolate answers) and GET /readyz (Postgres and the AgentCore answer). */
export const health = new Hono<{ Bindings: Env }>()
  .get('/healthz', (c) =>
    c.json({ status: 'ok', checks: { postgres: 'skipped', agentcore: 'skipped' } }, 200, NO_STORE),
  )
  .get('/readyz', async (c) => {
    let config: Config;
    try {
      config = loadConfig(c.env);
    } catch {
      // A broken configuration is not ready; the detail is in the Worker's log, not in a public response.
      return c.json({ status: 'unavailable', checks: { postgres: 'down', agentcore: 'down' } }, 503, NO_STORE);
    }
    const result = await readiness(config);
    return c.json(result, result.status === 'ok' ? 200 : 503, NO_STORE);
  });

function toCheck(ok: boolean): Check {
  return ok ? 'ok' : 'down';
}
