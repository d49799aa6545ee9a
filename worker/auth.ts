/**
 * Who is calling: Bearer JWTs checked with jose (SPEC §3, §7), the `requireAuth` middleware, and the
 * DEV_AUTH-only dev login. `sub` is the user id.
 */
import { Hono } from 'hono';
import { createMiddleware } from 'hono/factory';
import { createRemoteJWKSet, errors, type JWTPayload, type JWTVerifyGetKey, jwtVerify, SignJWT } from 'jose';
import { type Config, loadConfig } from './config';
import { ApiError } from './errors';
import { jsonBody } from './http';
import { isOwnHost } from './own-host';
import { type Bucket, take } from './room/rate-limit';
import { DevLoginBody, type DevLoginResult } from './wire';

/** Who is asking, and when their token stops being good (ms since the epoch; SPEC §4). */
export type AuthVariables = { userId: string; tokenExpiresAt: number };

/** Tolerated clock skew between the token issuer and this Worker. */
const CLOCK_TOLERANCE_S = 5;
const MAX_TOKEN_CHARS = 8192;
const MAX_SUBJECT_CHARS = 256;
const DEV_TOKEN_TTL = '12h';
/** A rotated key is picked up within seconds; the cooldown only bounds refetches caused by unknown kids. */
export const JWKS_COOLDOWN_MS = 5_000;
const JWKS_TIMEOUT_MS = 3_000;

/** The signing keys could not be fetched or read: the auth service's fault, not the caller's. */
export class KeySetUnavailable extends Error {
  override name = 'KeySetUnavailable';
}

const keySets = new Map<string, JWTVerifyGetKey>();

/** One remote key set per URL for the isolate's lifetime, so keys are cached across requests. */
function remoteKeys(url: string): JWTVerifyGetKey {
  let keys = keySets.get(url);
  if (keys) return keys;
  const remote = createRemoteJWKSet(new URL(url), {
    cooldownDuration: JWKS_COOLDOWN_MS,
    timeoutDuration: JWKS_TIMEOUT_MS,
  });
  keys = async (header, token) => {
    try {
      return await remote(header, token);
    } catch (err) {
      if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) throw err;
      throw new KeySetUnavailable('signing keys unavailable', { cause: err });
    }
  };
  keySets.set(url, keys);
  return keys;
}

function secretKey(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}

/** HS256 only ever against the shared secret, RS256/ES256 only against the JWKS: no RS/HS confusion. */
function verifier(config: Config): { algorithms: string[]; key: JWTVerifyGetKey } {
  const secret = config.AUTH_JWT_SECRET;
  const jwksUrl = config.AUTH_JWKS_URL;
  const algorithms = [...(secret ? ['HS256'] : []), ...(jwksUrl ? ['RS256', 'ES256'] : [])];
  const key: JWTVerifyGetKey = (header, token) => {
    if (header.alg === 'HS256' && secret) return secretKey(secret);
    if ((header.alg === 'RS256' || header.alg === 'ES256') && jwksUrl) return remoteKeys(jwksUrl)(header, token);
    // jose checks `algorithms` before asking for a key; this guards a future edit of that list.
    throw new errors.JOSEAlgNotAllowed('algorithm not allowed');
  };
  return { algorithms, key };
}

function bearerToken(authorization: string | null | undefined): string {
  if (!authorization) throw new ApiError('unauthorized', 'missing Authorization header');
  const match = /^(\S+)\s+(\S+)\s*$/.exec(authorization);
  if (!match || match[1]?.toLowerCase() !== 'bearer') {
    throw new ApiError('unauthorized', 'Authorization header must be "Bearer <token>"');
  }
  const token = match[2] ?? '';
  if (token.length > MAX_TOKEN_CHARS) throw new ApiError('unauthorized', 'malformed token');
  return token;
}

/** A short reason for the caller; jose's own messages stay in `cause`. */
function reasonFor(err: unknown): string | null {
  if (err instanceof errors.JWTExpired) return err.claim === 'iat' ? 'token too old' : 'token expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return 'token not yet valid';
    if (err.claim === 'iss') return 'wrong token issuer';
    if (err.claim === 'aud') return 'wrong token audience';
    return `token claim "${err.claim}" missing or invalid`;
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return 'token algorithm not allowed';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'invalid token signature';
  if (err instanceof errors.JWKSNoMatchingKey) return 'unknown signing key';
  if (err instanceof errors.JWKSMultipleMatchingKeys) return 'ambiguous signing key';
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return 'malformed token';
  if (err instanceof errors.JOSENotSupported) return 'malformed token';
  return null;
}

async function verifiedPayload(config: Config, token: string): Promise<JWTPayload> {
  const { algorithms, key } = verifier(config);
  try {
    const { payload } = await jwtVerify(token, key, {
      algorithms,
      issuer: config.AUTH_ISSUER,
      audience: config.AUTH_AUDIENCE,
      clockTolerance: CLOCK_TOLERANCE_S,
      requiredClaims: ['exp', 'sub'],
      maxTokenAge: config.AUTH_MAX_TOKEN_AGE_SECONDS,
    });
    return payload;
  } catch (err) {
    if (err instanceof KeySetUnavailable) throw new ApiError('unavailable', err.message, { cause: err.cause });
    const reason = reasonFor(err);
    if (reason) throw new ApiError('unauthorized', reason, { cause: err });
    throw err;
  }
}

/** Checks a Bearer JWT; throws ApiError('unauthorized') with a short reason (or 'unavailable' if keys can't be fetched). */
export async function authenticate(
  config: Config,
  authorization: string | null | undefined,
): Promise<{ userId: string; tokenExpiresAt: number }> {
  const payload = await verifiedPayload(config, bearerToken(authorization));
  const sub = payload.sub;
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > MAX_SUBJECT_CHARS) {
    throw new ApiError(
      'unauthorized',
      `token sub must be a non-empty string of at most ${MAX_SUBJECT_CHARS} characters`,
    );
  }
  return { userId: sub, tokenExpiresAt: tokenExpiry(payload, config) };
}

/** When a verified token stops being good: its `exp`, or sooner when AUTH_MAX_TOKEN_AGE_SECONDS counts from `iat`. */
function tokenExpiry(payload: JWTPayload, config: Config): number {
  const exp = (payload.exp ?? 0) * 1000;
  const maxAge = config.AUTH_MAX_TOKEN_AGE_SECONDS;
  if (maxAge === undefined || payload.iat === undefined) return exp;
  return Math.min(exp, (payload.iat + maxAge) * 1000);
}

/** Authenticates the request and sets `userId`; a failure goes to the app's error handler like any other. */
export const requireAuth = createMiddleware<{ Bindings: Env; Variables: AuthVariables }>(async (c, next) => {
  const { userId, tokenExpiresAt } = await authenticate(loadConfig(c.env), c.req.header('authorization'));
  c.set('userId', userId);
  c.set('tokenExpiresAt', tokenExpiresAt);
  await next();
});

/** An HS256 token for `userId` (12 h), as the dev login and local scripts hand out. */
export async function mintDevToken(config: Config, userId: string): Promise<string> {
  if (!config.AUTH_JWT_SECRET) throw new ApiError('unavailable', 'dev tokens need AUTH_JWT_SECRET');
  if (userId.length === 0 || userId.length > MAX_SUBJECT_CHARS) {
    throw new ApiError('invalid_request', `user id must be 1..${MAX_SUBJECT_CHARS} characters`);
  }
  const jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(userId).setIssuedAt();
  if (config.AUTH_ISSUER) jwt.setIssuer(config.AUTH_ISSUER);
  if (config.AUTH_AUDIENCE) jwt.setAudience(config.AUTH_AUDIENCE);
  return jwt.setExpirationTime(DEV_TOKEN_TTL).sign(secretKey(config.AUTH_JWT_SECRET));
}

/** Dev-login buckets per client address, per isolate: the endpoint only exists on dev deployments. */
const devLoginBuckets = new WeakMap<Config, Map<string, Bucket>>();
const MAX_TRACKED_CLIENTS = 10_000;

/** Anyone who can reach the dev login gets a token for any user: bound how fast names can be tried. */
function devLoginRefusal(config: Config, client: string): ApiError | null {
  let buckets = devLoginBuckets.get(config);
  if (!buckets || buckets.size > MAX_TRACKED_CLIENTS) {
    buckets = new Map();
    devLoginBuckets.set(config, buckets);
  }
  const policy = { perMinute: config.DEV_LOGIN_PER_MINUTE, burst: config.DEV_LOGIN_PER_MINUTE };
  const result = take(buckets.get(client) ?? null, policy, Date.now());
  buckets.set(client, result.bucket);
  if (result.ok) return null;
  return new ApiError('rate_limited', 'too many dev logins; try again shortly', { retryAfter: result.retryAfter });
}

/** POST /api/v1/dev/login {user} → {token, user}; exists only when DEV_AUTH is on. Mounted at /api/v1/dev. */
export const devLogin = new Hono<{ Bindings: Env }>().post('/login', async (c) => {
  const config = loadConfig(c.env);
  if (!config.DEV_AUTH) throw new ApiError('not_found', 'not found');
  if (!isOwnHost(new URL(c.req.url), config)) {
    throw new ApiError('forbidden', 'the dev login answers only on localhost or a host in ALLOWED_ORIGINS');
  }
  const refusal = devLoginRefusal(config, c.req.header('cf-connecting-ip') ?? 'unknown');
  if (refusal) throw refusal;
  const body = await jsonBody(c, DevLoginBody);
  const token = await mintDevToken(config, body.user);
  return c.json({ token, user: body.user } satisfies DevLoginResult);
});
