/**
 * Cross-origin use of the API (SPEC §3): a dashboard on an origin in ALLOWED_ORIGINS may call it; any other origin
 * gets no CORS header at all, so its browser keeps the answer from it. No credentials: the token is a header.
 */
import type { MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import { loadConfig } from './config';

const policy = (origin: string) =>
  cors({
    origin,
    allowMethods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowHeaders: ['Authorization', 'Content-Type', 'Last-Event-ID'],
    exposeHeaders: ['Retry-After', 'X-Request-Id'],
    maxAge: 600,
  });

function allowed(env: Env, origin: string): boolean {
  try {
    return loadConfig(env).ALLOWED_ORIGINS.includes(origin);
  } catch {
    // A bad config is answered by the route (503 naming the setting), without CORS headers.
    return false;
  }
}

export const crossOrigin: MiddlewareHandler<{ Bindings: Env }> = async (c, next) => {
  const origin = c.req.header('origin');
  // WebSocket upgrades check Origin themselves (SPEC §4); a 101 response must be passed on untouched.
  if (!origin || c.req.header('upgrade') || !allowed(c.env, origin)) return next();
  return policy(origin)(c, next);
};
