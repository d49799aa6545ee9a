import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off', ''])
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));
const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);
const url = z.url({ protocol: /^(https?|wss?|postgres(ql)?)$/ });
const list = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean),
);

/** A web origin (scheme://host[:port], nothing after), read in its canonical form. */
const origin = z
  .string()
  .refine(
    (o) =>
      URL.canParse(o) &&
      /^https?:$/.test(new URL(o).protocol) &&
      new URL(o).origin === o.replace(/\/$/, '').toLowerCase(),
    {
      message: 'must be origins like https://images.example.com (scheme, host and port; no path)',
    },
  )
  .transform((o) => new URL(o).origin);

export const ConfigSchema = z
  .object({
    DATABASE_URL: url,
    /** Set only locally: the Neon driver then speaks to this WebSocket→TCP proxy (host:port/path) without TLS. */
    NEON_WS_PROXY: z.string().min(1).optional(),
    AUTH_JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    AUTH_JWKS_URL: url.optional(),
    AUTH_ISSUER: z.string().min(1).optional(),
    AUTH_AUDIENCE: z.string().min(1).optional(),
    /** Refuse tokens issued (`iat`) longer ago than this, whatever their `exp`; unset = `exp` alone decides. */
    AUTH_MAX_TOKEN_AGE_SECONDS: z.coerce.number().int().min(1).optional(),
    DEV_AUTH: bool.default(false),
    /** Dev logins per client address a minute (also the burst); the dev login mints a token for any name. */
    DEV_LOGIN_PER_MINUTE: int(10, 1),
    AGENTCORE_URL: url,
    AGENTCORE_TOKEN: z.string().default(''),
    AGENTCORE_PROTOCOL: z.enum(['ui-stream', 'openai']).default('ui-stream'),
    AGENTCORE_MODEL: z.string().default('gpt-4o-mini'),
    AGENTCORE_HISTORY_LIMIT: int(50, 1),
    /** The history's messages as JSON add up to at most this (oldest dropped first); a send alone over it is 413. */
    AGENTCORE_HISTORY_MAX_BYTES: int(1_048_576, 1),
    /** A reply whose agent events add up to more than this ends as error `reply_too_large`, keeping its text so far. */
    AGENTCORE_MAX_REPLY_BYTES: int(1_048_576, 1),
    AGENTCORE_FIRST_CHUNK_TIMEOUT_MS: int(30_000, 1),
    AGENTCORE_IDLE_TIMEOUT_MS: int(60_000, 1),
    ALLOWED_ORIGINS: list.default([]),
    /** Where images in agent replies may load from (the page's img-src); none by default: they show as links. */
    ALLOWED_IMAGE_ORIGINS: list.pipe(z.array(origin)).default([]),
    /** Who may frame the page (CSP frame-ancestors): origins, or 'self'; nobody by default. */
    FRAME_ANCESTORS: list.pipe(z.array(z.union([z.literal("'self'"), origin]))).default([]),
    RATE_LIMIT_USER_PER_MINUTE: int(20, 1),
    RATE_LIMIT_USER_BURST: int(5, 1),
    RATE_LIMIT_CONVERSATION_PER_MINUTE: int(20, 1),
    RATE_LIMIT_CONVERSATION_BURST: int(5, 1),
    /** Other writes (create, rename, delete, ws-ticket, stop) share one bucket per user. */
    RATE_LIMIT_WRITES_PER_MINUTE: int(60, 1),
    RATE_LIMIT_WRITES_BURST: int(20, 1),
    /** Reads of public share links (JSON and live stream) per client address (SPEC §10). */
    RATE_LIMIT_SHARED_PER_MINUTE: int(120, 1),
    RATE_LIMIT_SHARED_BURST: int(30, 1),
    MAX_SOCKETS_PER_CONVERSATION: int(64, 1),
    /** Live SSE readers of a conversation's reply at once (GET …/stream and streaming sends). */
    MAX_SSE_READERS_PER_CONVERSATION: int(64, 1),
    /** An SSE reader that has this much of the reply waiting unread is cut off (it can resume). */
    SSE_MAX_LAG_BYTES: int(1_048_576, 1),
    WS_TICKET_TTL_SECONDS: int(60, 1).pipe(z.number().max(60)),
    /** A socket that has not pinged for this long is closed with 4408 (a client pings every 20 s). */
    WS_PING_TIMEOUT_SECONDS: int(75, 1),
    LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
    /** Counts each room's storage rows onto its `reply` lines (bench/capacity.ts); never in a deployed environment. */
    STORAGE_METER: bool.default(false),
  })
  .refine((c) => c.AUTH_JWT_SECRET || c.AUTH_JWKS_URL, {
    message: 'set AUTH_JWT_SECRET (HS256) or AUTH_JWKS_URL (RS256/ES256)',
    path: ['AUTH_JWT_SECRET'],
  })
  // A key set is usually shared by every application of the auth service: without iss/aud checks this Worker
  // would accept tokens minted for any of them.
  .refine((c) => !c.AUTH_JWKS_URL || c.AUTH_ISSUER, {
    message: 'required with AUTH_JWKS_URL (the iss claim tokens for this app carry)',
    path: ['AUTH_ISSUER'],
  })
  .refine((c) => !c.AUTH_JWKS_URL || c.AUTH_AUDIENCE, {
    message: 'required with AUTH_JWKS_URL (the aud claim tokens for this app carry)',
    path: ['AUTH_AUDIENCE'],
  });

export type Config = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const cache = new WeakMap<object, Config>();

/** Parses the Worker's env once into a typed Config; a missing or bad setting fails naming it. */
export function loadConfig(env: object): Config {
  const hit = cache.get(env);
  if (hit) return hit;
  const raw: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(env)) if (typeof v === 'string') raw[k] = v;
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${lines.join('; ')}`);
  }
  cache.set(env, parsed.data);
  return parsed.data;
}
