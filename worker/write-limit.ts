import { createMiddleware } from 'hono/factory';
import type { AuthVariables } from './auth';
import { spendWrite } from './room/user-quota';

/**
 * The per-user limit on writes other than sends (create, rename, delete, ws-ticket, stop; SPEC §3), taken from the
 * user's quota object before the write reaches its room: a flood of them must not keep rooms and Postgres busy.
 * A stop sent as a WebSocket frame is counted by the room, from the same bucket.
 */
export const limitWrites = createMiddleware<{ Bindings: Env; Variables: AuthVariables }>(async (c, next) => {
  await spendWrite(c.env, c.get('userId'));
  await next();
});
