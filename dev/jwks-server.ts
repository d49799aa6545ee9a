/**
 * A stand-in for the existing auth service: publishes an RS256 and an ES256 public key as a JWKS,
 * signs tokens on request, and rotates its keys, so the Worker's JWKS path is tested over real HTTP.
 * `tsx dev/jwks-server.ts` runs it standalone (PORT, default 8789).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import {
  type CryptoKey,
  calculateJwkThumbprint,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type JWK,
  SignJWT,
} from 'jose';
import { z } from 'zod';

const ALGS = ['RS256', 'ES256'] as const;
export type SigningAlg = (typeof ALGS)[number];

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

async function newSigningKey(alg: SigningAlg): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, privateKey, publicKey, publicJwk: { ...jwk, kid, alg, use: 'sig' } };
}

async function newKeyRing(): Promise<Record<SigningAlg, SigningKey>> {
  const [rs, es] = await Promise.all([newSigningKey('RS256'), newSigningKey('ES256')]);
  return { RS256: rs, ES256: es };
}

const SignRequest = z.strictObject({
  claims: z.record(z.string(), z.unknown()),
  alg: z.enum(ALGS),
  /** Overrides the header's kid (e.g. an unknown one); the current key still signs. */
  kid: z.string().min(1).optional(),
  /** Seconds from now, or a jose time span such as '2h' or '-1h'. */
  expiresIn: z.union([z.string().min(1), z.number()]).optional(),
});

async function readJson(req: IncomingMessage): Promise<unknown> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  const text = Buffer.concat(parts).toString('utf8');
  return text ? JSON.parse(text) : {};
}

function send(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(text);
}

export async function startJwksServer(opts: { port: number; host?: string }): Promise<{
  base: string;
  close(): Promise<void>;
}> {
  let keys = await newKeyRing();

  async function sign(body: z.infer<typeof SignRequest>): Promise<string> {
    const key = keys[body.alg];
    const jwt = new SignJWT(body.claims).setProtectedHeader({ alg: body.alg, kid: body.kid ?? key.kid, typ: 'JWT' });
    if (body.claims.iat === undefined) jwt.setIssuedAt();
    if (typeof body.expiresIn === 'number') jwt.setExpirationTime(Math.floor(Date.now() / 1000) + body.expiresIn);
    if (typeof body.expiresIn === 'string') jwt.setExpirationTime(body.expiresIn);
    return jwt.sign(key.privateKey);
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const at = `${req.method} ${url.pathname}`;
    if (at === 'GET /.well-known/jwks.json') {
      return send(res, 200, { keys: ALGS.map((alg) => keys[alg].publicJwk) });
    }
    if (at === 'POST /rotate') {
      keys = await newKeyRing();
      return send(res, 200, { kids: { RS256: keys.RS256.kid, ES256: keys.ES256.kid } });
    }
    if (at === 'POST /sign') {
      const parsed = SignRequest.safeParse(await readJson(req));
      if (!parsed.success) return send(res, 400, { error: z.prettifyError(parsed.error) });
      return send(res, 200, { token: await sign(parsed.data) });
    }
    if (at === 'GET /public-pem') {
      const alg = z
        .enum(ALGS)
        .default('RS256')
        .safeParse(url.searchParams.get('alg') ?? undefined);
      if (!alg.success) return send(res, 400, { error: 'alg must be RS256 or ES256' });
      return send(res, 200, await exportSPKI(keys[alg.data].publicKey), 'text/plain; charset=utf-8');
    }
    send(res, 404, { error: 'not found' });
  }

  const server = createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      // A body that is not JSON is the caller's mistake; anything else is ours.
      const status = err instanceof SyntaxError ? 400 : 500;
      if (!res.headersSent) send(res, status, { error: err instanceof Error ? err.message : String(err) });
    });
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const server = await startJwksServer({ port: Number(process.env.PORT ?? 8789) });
  console.log(`JWKS server at ${server.base}/.well-known/jwks.json`);
}
