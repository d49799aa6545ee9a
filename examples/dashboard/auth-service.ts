/**
 * The dashboard's own auth service (a stand-in for the existing one): signs its users in and issues short-lived
 * RS256 tokens whose public key it publishes as a JWKS. The chat Worker trusts it through AUTH_JWKS_URL,
 * AUTH_ISSUER and AUTH_AUDIENCE; the chat never sees a password or a session, only these tokens.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';

export const ISSUER = 'dashboard-demo-auth';
export const AUDIENCE = 'agent-chat';

export interface AuthService {
  url: string;
  jwksUrl: string;
  /** How many tokens it has issued (a test checks that expired ones were replaced). */
  issued(): number;
  close(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<unknown> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  try {
    return JSON.parse(Buffer.concat(parts).toString('utf8') || '{}');
  } catch {
    return null;
  }
}

export async function startAuthService(opts: { ttlSeconds: number; allowOrigin: () => string }): Promise<AuthService> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  let issued = 0;

  const answer = (res: ServerResponse, status: number, value: unknown) => {
    res.writeHead(status, {
      'content-type': 'application/json',
      'cache-control': 'no-store',
      'access-control-allow-origin': opts.allowOrigin(),
      'access-control-allow-headers': 'content-type',
      'access-control-allow-methods': 'GET, POST',
    });
    res.end(JSON.stringify(value));
  };

  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://auth').pathname;
    if (req.method === 'OPTIONS') return answer(res, 204, null);
    if (req.method === 'GET' && path === '/.well-known/jwks.json') {
      return answer(res, 200, { keys: [{ ...jwk, kid, alg: 'RS256', use: 'sig' }] });
    }
    if (req.method === 'POST' && path === '/token') {
      // A demo: the user name is the whole sign-in. A real service checks a session cookie here.
      const input = (await body(req)) as { user?: unknown } | null;
      const user = typeof input?.user === 'string' ? input.user.trim() : '';
      if (!user) return answer(res, 400, { error: 'user is required' });
      issued++;
      const token = await new SignJWT({ name: user })
        .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
        .setSubject(`dashboard:${user}`)
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setIssuedAt()
        .setExpirationTime(Math.floor(Date.now() / 1000) + opts.ttlSeconds)
        .sign(privateKey);
      return answer(res, 200, { token, expires_in: opts.ttlSeconds });
    }
    answer(res, 404, { error: 'not found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    jwksUrl: `${url}/.well-known/jwks.json`,
    issued: () => issued,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
