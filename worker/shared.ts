/**
 * The public side of share links (SPEC §10), mounted at /api/v1/shared: no sign-in, GET only, rate-limited per
 * client address. A link is looked up in Postgres and answered by its conversation's room, which alone says whether
 * it still works (a revoke is refused there at once). Every refusal of a link is the same 404, whether it never
 * existed, was revoked or its conversation deleted, so a guess learns nothing.
 */
import { Hono } from 'hono';
import { createMiddleware } from 'hono/factory';
import { loadConfig } from './config';
import { conversationOfShare } from './db/shares';
import { ApiError } from './errors';
import type { RoomResult } from './room/rpc';
import { ShareId } from './wire';

type App = { Bindings: Env };

const PUBLIC_HEADERS = {
  // A shared conversation changes and can be revoked: never kept by a cache, never indexed.
  'cache-control': 'no-store',
  'x-robots-tag': 'noindex',
};

const noSuchLink = () => new ApiError('not_found', 'no such shared conversation');

/** Anything but GET is refused, before it costs a lookup: a viewer can read a conversation, never change it. */
const readOnly = createMiddleware<App>(async (c, next) => {
  if (c.req.method !== 'GET') {
    return new ApiError('method_not_allowed', 'shared conversations are read-only').toResponse({ allow: 'GET' });
  }
  await next();
});

/** Public reads per client address: a bucket kept by the quota object named for it. */
const limitPerClient = createMiddleware<App>(async (c, next) => {
  const client = c.req.header('cf-connecting-ip') ?? 'unknown';
  const quota = c.env.QUOTAS.get(c.env.QUOTAS.idFromName(`shared-client:${client}`));
  const wait = await quota.takeSharedRead();
  if (wait !== null) {
    throw new ApiError('rate_limited', `too many requests; try again in ${wait} s`, { retryAfter: wait });
  }
  await next();
});

async function roomOf(c: { env: Env; req: { param(name: string): string | undefined } }) {
  const parsed = ShareId.safeParse(c.req.param('shareId'));
  if (!parsed.success) throw noSuchLink();
  const conversationId = await conversationOfShare(loadConfig(c.env), parsed.data);
  if (!conversationId) throw noSuchLink();
  return { shareId: parsed.data, room: c.env.ROOMS.get(c.env.ROOMS.idFromName(conversationId)) };
}

function unwrap<T>(result: RoomResult<T>): T {
  if (result.ok) return result.value;
  throw new ApiError(result.error.code, result.error.message, { retryAfter: result.error.retryAfter });
}

export const shared = new Hono<App>();

shared.use('*', readOnly, limitPerClient);

shared.get('/:shareId', async (c) => {
  const { shareId, room } = await roomOf(c);
  return c.json(unwrap(await room.sharedView(shareId)), 200, PUBLIC_HEADERS);
});

shared.get('/:shareId/stream', async (c) => {
  const { shareId, room } = await roomOf(c);
  return room.watchShared(shareId);
});

shared.all('*', () => {
  throw noSuchLink();
});
