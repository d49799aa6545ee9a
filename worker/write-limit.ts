import { createMiddleware } from 'hono/factory';
import type { AuthVariables } from './auth';
import { ApiError } from './errors';

/**
 * The per-user limit on writes other than sends (create, rename, delete, ws-ticket, stop; SPEC §3), taken from the
 * user's quota object before the write reaches its room: a flood of them must not keep rooms and Postgres busy.
 */
export const limitWrites = createMiddleware<{ Bindings: Env; Variables: AuthVariables }>(async (c, next) => {
  const quota = c.env.QUOTAS.get(c.env.QUOTAS.idFromName(c.get('userId')));
  const wait = await quota.takeWrite();
  if (wait !== null) {
    throw new ApiError('rate_limited', `too many changes; try again in ${wait} s`, { retryAfter: wait });
  }
  await next();
});
