import { Hono } from 'hono';
import { checkAgent } from './agentcore/bridge';
import { type Config, loadConfig } from './config';
import { checkPostgres } from './db/client';

type Check = 'ok' | 'down';

const NO_STORE = { 'cache-control': 'no-store' };

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
    const [postgres, agentcore] = await Promise.all([
      checkPostgres(config).then(toCheck, () => 'down' as const),
      checkAgent(config).then(toCheck, () => 'down' as const),
    ]);
    const ready = postgres === 'ok' && agentcore === 'ok';
    return c.json(
      { status: ready ? 'ok' : 'unavailable', checks: { postgres, agentcore } },
      ready ? 200 : 503,
      NO_STORE,
    );
  });

function toCheck(ok: boolean): Check {
  return ok ? 'ok' : 'down';
}
