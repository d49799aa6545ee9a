/**
 * Experiment 7: the auth attack matrix. Forged, tampered, expired and misdirected tokens (alg none, HS/RS confusion,
 * kid/jku/jwk header tricks), other users' conversations on every route, WebSocket ticket replay, races and misuse,
 * foreign and null Origins. Property: none is accepted, each is refused with the right status and the envelope, and
 * the victim's conversation is unchanged afterwards. Positive controls prove the harness can be accepted at all.
 */
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import WebSocket from 'ws';
import { API_BASE, ErrorEnvelope } from '../../worker/wire';
import { type Experiment, outcome, withLab } from '../experiment';
import { addVerdict, checkInvariants, Transcript } from '../invariants';
import { type Lab, sleep } from '../lab';

interface Attempt {
  status: number;
  /** The body had the error envelope (always true for an accepted request). */
  envelope: boolean;
}

const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

async function httpAttempt(lab: Lab, method: string, path: string, headers: Record<string, string>, body?: unknown) {
  const res = await fetch(`${lab.stack.url}${API_BASE}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 500) lab.serverErrors.push(`${method} ${path} → ${res.status} ${text.slice(0, 200)}`);
  let envelope = res.status < 400;
  try {
    envelope ||= ErrorEnvelope.safeParse(JSON.parse(text)).success;
  } catch {
    // not JSON: no envelope
  }
  return { status: res.status, envelope } satisfies Attempt;
}

/** A WebSocket upgrade: 101 when it opened (then closed at once), else the refusal's status. */
async function wsAttempt(lab: Lab, conversationId: string, opts: { token?: string; ticket?: string; origin?: string }) {
  const q = opts.ticket ? `?ticket=${encodeURIComponent(opts.ticket)}` : '';
  const ws = new WebSocket(`${lab.stack.url.replace('http', 'ws')}${API_BASE}/conversations/${conversationId}/ws${q}`, {
    headers: {
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(opts.origin ? { origin: opts.origin } : {}),
    },
  });
  return new Promise<Attempt>((resolve) => {
    ws.once('open', () => {
      ws.close(1000);
      resolve({ status: 101, envelope: true });
    });
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d: Buffer) => {
        text += d.toString();
      });
      res.on('end', () => {
        if ((res.statusCode ?? 0) >= 500) lab.serverErrors.push(`WS upgrade → ${res.statusCode} ${text.slice(0, 200)}`);
        let envelope = false;
        try {
          envelope = ErrorEnvelope.safeParse(JSON.parse(text)).success;
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode ?? 0, envelope });
      });
    });
    ws.once('error', () => resolve({ status: 0, envelope: false }));
  });
}

interface Case {
  name: string;
  expect: number;
  attempt: () => Promise<Attempt>;
}

export const authMatrix: Experiment = {
  key: 'auth',
  title: '7 auth attack matrix',
  async run(_profile, log, labs) {
    const result = outcome('0 accepted; each refused with its status and the envelope; victim unchanged');
    // The shared lab trusts a local JWKS besides the HS256 secret, and its WebSocket tickets live 1 s.
    return withLab(
      () => labs.borrow(),
      result,
      async (lab) => {
        if (!lab.jwksBase) throw new Error('the lab trusts no JWKS');
        const cases = await buildCases(lab, lab.jwksBase);
        let accepted = 0;
        for (const c of cases.attacks) {
          const got = await c.attempt();
          const ok = got.status === c.expect && got.envelope;
          if (got.status < 400 && got.status !== 0) accepted++;
          if (!ok)
            result.failures.push(
              `${c.name}: expected ${c.expect} with the envelope, got ${got.status}${got.envelope ? '' : ' (no envelope)'}`,
            );
        }
        for (const c of cases.controls) {
          const got = await c.attempt();
          if (got.status !== c.expect)
            result.failures.push(`control ${c.name}: expected ${c.expect}, got ${got.status}`);
        }
        result.trials = cases.attacks.length;
        result.figures.push(
          `${cases.attacks.length} attacks, ${accepted} accepted; ${cases.controls.length} positive controls`,
        );
        log(`${cases.attacks.length} attacks, ${accepted} accepted`);
        const after = await cases.victimState();
        if (after !== cases.victimBefore)
          result.failures.push(`the victim's conversation changed: ${cases.victimBefore} → ${after}`);
        addVerdict(result.verdict, await checkInvariants(lab, cases.transcripts));
      },
    );
  },
};

async function buildCases(lab: Lab, jwksBase: string) {
  const vars = lab.stack.vars;
  const secret = new TextEncoder().encode(vars.AUTH_JWT_SECRET ?? '');
  const iss = vars.AUTH_ISSUER ?? '';
  const aud = vars.AUTH_AUDIENCE ?? '';
  const alice = await lab.user();
  const bob = await lab.user();
  const victim = await bob.conversation('bob only');
  const sent = await bob.ok<{ message: { id: string; client_message_id: string } }>('POST', '/messages', {
    conversation_id: victim,
    content: '!dev words=3\nbob secret',
    client_message_id: 'bob-first',
  });
  const bobTranscript = new Transcript(bob, victim);
  bobTranscript.admitted.push({ clientMessageId: sent.message.client_message_id, content: '!dev words=3\nbob secret' });
  const own = await alice.conversation('alice');
  const victimState = async () => {
    const history = await bob.history(victim);
    const conv = await bob.ok<{ title: string; message_count: number }>('GET', `/conversations/${victim}`);
    return JSON.stringify({ title: conv.title, n: conv.message_count, ids: history.map((m) => [m.id, m.status]) });
  };
  const victimBefore = await victimState();

  const hs = (claims: Record<string, unknown>, header: Record<string, unknown> = {}) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT', ...header }).sign(secret);
  const good = { sub: alice.id, iss, aud, iat: now(), exp: now() + 600 };
  const signRs = async (claims: Record<string, unknown>, extra: { kid?: string } = {}) => {
    const res = await fetch(`${jwksBase}/sign`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ claims, alg: 'RS256', expiresIn: 600, ...extra }),
    });
    return ((await res.json()) as { token: string }).token;
  };
  const publicPem = await (await fetch(`${jwksBase}/public-pem?alg=RS256`)).text();
  const attacker = await generateKeyPair('RS256', { extractable: true });
  const attackerJwk = { ...(await exportJWK(attacker.publicKey)), kid: 'attacker', alg: 'RS256' };
  const [gh, gp, gs] = (await hs(good)).split('.') as [string, string, string];

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const list = (token: string, expect = 401): Case => ({
    name: '',
    expect,
    attempt: () => httpAttempt(lab, 'GET', '/conversations', bearer(token)),
  });
  const tokens: Array<[string, Promise<string> | string]> = [
    ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${b64(good)}.`],
    ['alg None (case)', `${b64({ alg: 'None', typ: 'JWT' })}.${b64(good)}.`],
    ['alg none with a signature kept', `${b64({ alg: 'none' })}.${gp}.${gs}`],
    [
      'HS256 with the wrong secret',
      new SignJWT(good).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('x'.repeat(48))),
    ],
    [
      'HS/RS confusion: HS256 keyed with the RSA public key',
      new SignJWT(good).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(publicPem)),
    ],
    ['HS/RS confusion: RS256 header over an HMAC signature', `${b64({ alg: 'RS256', typ: 'JWT' })}.${gp}.${gs}`],
    ['HS384 with the right secret', new SignJWT(good).setProtectedHeader({ alg: 'HS384' }).sign(secret)],
    ['expired', hs({ ...good, exp: now() - 120 })],
    ['not yet valid (nbf)', hs({ ...good, nbf: now() + 120 })],
    ['wrong audience', hs({ ...good, aud: 'another-app' })],
    ['wrong issuer', hs({ ...good, iss: 'https://evil.example' })],
    ['no exp', hs({ sub: alice.id, iss, aud })],
    ['no sub', hs({ iss, aud, exp: now() + 600 })],
    ['empty sub', hs({ ...good, sub: '' })],
    ['sub too long', hs({ ...good, sub: 'a'.repeat(257) })],
    ['sub not a string', hs({ ...good, sub: 42 })],
    ['exp as a string', hs({ ...good, exp: String(now() + 600) })],
    ['tampered payload (sub swapped to bob)', `${gh}.${b64({ ...good, sub: bob.id })}.${gs}`],
    ['tampered signature', `${gh}.${gp}.${gs.slice(0, -4)}${gs.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`],
    ['RS256 with an unknown kid', signRs({ ...good }, { kid: 'unknown-kid' })],
    ['RS256 with a path-traversal kid', signRs({ ...good }, { kid: '../../../../dev/null' })],
    [
      'RS256 by an attacker key named by jku',
      new SignJWT(good)
        .setProtectedHeader({ alg: 'RS256', kid: 'attacker', jku: 'http://127.0.0.1:9/jwks.json' })
        .sign(attacker.privateKey),
    ],
    [
      'RS256 by an attacker key embedded as jwk',
      new SignJWT(good).setProtectedHeader({ alg: 'RS256', jwk: attackerJwk }).sign(attacker.privateKey),
    ],
    [
      'RS256 by an attacker key under the real kid',
      (async () => {
        const real = JSON.parse(Buffer.from((await signRs(good)).split('.')[0] ?? '', 'base64url').toString()) as {
          kid: string;
        };
        return new SignJWT(good).setProtectedHeader({ alg: 'RS256', kid: real.kid }).sign(attacker.privateKey);
      })(),
    ],
    ['RS256 for the wrong audience', signRs({ ...good, aud: 'another-app' })],
    ['token longer than 8 KiB', hs({ ...good, pad: 'x'.repeat(9000) })],
    ['two dots only', '..'],
  ];
  const attacks: Case[] = [];
  for (const [name, token] of tokens) attacks.push({ ...list(await token), name: `token: ${name}` });
  attacks.push({ name: 'no Authorization', expect: 401, attempt: () => httpAttempt(lab, 'GET', '/conversations', {}) });
  attacks.push({
    name: 'Basic scheme',
    expect: 401,
    attempt: () => httpAttempt(lab, 'GET', '/conversations', { authorization: `Basic ${b64('alice:pw')}` }),
  });
  attacks.push({
    name: 'token in the query string',
    expect: 401,
    attempt: async () => httpAttempt(lab, 'GET', `/conversations?access_token=${await hs(good)}`, {}),
  });
  attacks.push({
    name: 'WebSocket upgrade with an expired token',
    expect: 401,
    attempt: async () => wsAttempt(lab, own, { token: await hs({ ...good, exp: now() - 120 }) }),
  });
  attacks.push({
    name: 'WebSocket upgrade with alg none',
    expect: 401,
    attempt: async () => wsAttempt(lab, own, { token: `${b64({ alg: 'none' })}.${b64(good)}.` }),
  });

  // Bob's conversation, by Alice (a valid token), on every route: 404, as if it did not exist.
  const t = alice.token;
  const routes: Array<[string, string, unknown?]> = [
    ['GET', `/conversations/${victim}`],
    ['PATCH', `/conversations/${victim}`, { title: 'pwned' }],
    ['DELETE', `/conversations/${victim}`],
    ['GET', `/conversations/${victim}/messages`],
    ['GET', `/conversations/${victim}/messages?after_seq=0`],
    ['GET', `/conversations/${victim}/stream`],
    ['POST', `/conversations/${victim}/stop`],
    ['POST', '/messages', { conversation_id: victim, content: 'hi bob', client_message_id: 'x' }],
    ['POST', '/messages', { conversation_id: victim, content: 'hi bob', client_message_id: 'bob-first' }],
    ['POST', '/ws-ticket', { conversation_id: victim }],
    ['GET', `/conversations/${victim.toUpperCase()}`],
  ];
  for (const [method, path, body] of routes) {
    attacks.push({
      name: `other user's conversation: ${method} ${path.replace(victim, 'B').replace(victim.toUpperCase(), 'B (upper case)')}${body ? ` ${JSON.stringify(body).replace(victim, 'B')}` : ''}`,
      expect: 404,
      attempt: () => httpAttempt(lab, method, path, bearer(t), body),
    });
  }
  attacks.push({
    name: "other user's conversation: SSE send with Accept: text/event-stream",
    expect: 404,
    attempt: () =>
      httpAttempt(
        lab,
        'POST',
        '/messages',
        { ...bearer(t), accept: 'text/event-stream' },
        { conversation_id: victim, content: 'sse to bob' },
      ),
  });
  attacks.push({
    name: "other user's conversation: WebSocket upgrade",
    expect: 404,
    attempt: () => wsAttempt(lab, victim, { token: t }),
  });

  // Tickets: single use, bound to their conversation, short-lived, unforgeable, spent by a refused Origin.
  const ticket = async (conversationId = own) =>
    (await alice.ok<{ ticket: string }>('POST', '/ws-ticket', { conversation_id: conversationId })).ticket;
  const origin = new URL(lab.stack.url).origin;
  const controls: Case[] = [
    {
      name: 'valid HS256 token lists',
      expect: 200,
      attempt: async () => httpAttempt(lab, 'GET', '/conversations', bearer(await hs(good))),
    },
    {
      name: 'valid RS256 token lists',
      expect: 200,
      attempt: async () => httpAttempt(lab, 'GET', '/conversations', bearer(await signRs(good))),
    },
    {
      name: 'bob reads his conversation',
      expect: 200,
      attempt: () => httpAttempt(lab, 'GET', `/conversations/${victim}`, bearer(bob.token)),
    },
    {
      name: 'a fresh ticket opens once',
      expect: 101,
      attempt: async () => wsAttempt(lab, own, { ticket: await ticket(), origin }),
    },
    {
      name: 'bearer upgrade from the page origin',
      expect: 101,
      attempt: () => wsAttempt(lab, own, { token: t, origin }),
    },
  ];
  attacks.push({
    name: 'ticket replay (second use)',
    expect: 401,
    attempt: async () => {
      // Made here, not when the list is built: on a loaded machine the attacks before it outlast the ticket's TTL.
      const replayed = await ticket();
      const first = await wsAttempt(lab, own, { ticket: replayed });
      if (first.status !== 101) return { status: 900 + first.status, envelope: false };
      return wsAttempt(lab, own, { ticket: replayed });
    },
  });
  attacks.push({
    name: 'ticket race: 8 upgrades at once, only one opens',
    expect: 401,
    attempt: async () => {
      const tk = await ticket();
      const all = await Promise.all(Array.from({ length: 8 }, () => wsAttempt(lab, own, { ticket: tk })));
      const opened = all.filter((a) => a.status === 101).length;
      if (opened !== 1) return { status: opened === 0 ? 0 : 101, envelope: true };
      return all.find((a) => a.status !== 101) ?? { status: 0, envelope: false };
    },
  });
  attacks.push({
    name: "ticket for Alice's conversation presented at Bob's",
    expect: 401,
    attempt: async () => wsAttempt(lab, victim, { ticket: await ticket() }),
  });
  attacks.push({
    name: 'ticket presented elsewhere is spent',
    expect: 401,
    attempt: async () => {
      const tk = await ticket();
      await wsAttempt(lab, victim, { ticket: tk });
      return wsAttempt(lab, own, { ticket: tk });
    },
  });
  attacks.push({
    name: 'expired ticket (TTL 1 s)',
    expect: 401,
    attempt: async () => {
      const tk = await ticket();
      await sleep(2_100); // the lifetime is the subject: the lab configures 1 s
      return wsAttempt(lab, own, { ticket: tk });
    },
  });
  attacks.push({
    name: 'forged ticket',
    expect: 401,
    attempt: () => wsAttempt(lab, own, { ticket: `${own}.${'A'.repeat(43)}` }),
  });
  attacks.push({
    name: 'ticket with a malformed room part',
    expect: 401,
    attempt: () => wsAttempt(lab, own, { ticket: 'garbage' }),
  });
  attacks.push({
    name: 'foreign Origin with a bearer token',
    expect: 403,
    attempt: () => wsAttempt(lab, own, { token: t, origin: 'https://evil.example' }),
  });
  attacks.push({
    name: 'null Origin with a bearer token',
    expect: 403,
    attempt: () => wsAttempt(lab, own, { token: t, origin: 'null' }),
  });
  attacks.push({
    name: 'Origin that extends an allowed one',
    expect: 403,
    attempt: () => wsAttempt(lab, own, { token: t, origin: `${origin}.evil.example` }),
  });
  attacks.push({
    name: 'foreign Origin with a ticket spends the ticket',
    expect: 401,
    attempt: async () => {
      const tk = await ticket();
      const refused = await wsAttempt(lab, own, { ticket: tk, origin: 'https://evil.example' });
      if (refused.status !== 403) return { status: 900 + refused.status, envelope: false };
      return wsAttempt(lab, own, { ticket: tk, origin });
    },
  });
  const derived = await alice.ok<{ conversation: { id: string } }>('POST', '/messages', {
    content: '!dev words=2\nmine',
    client_message_id: 'bob-first',
  });
  attacks.push({
    name: "Alice reusing Bob's client_message_id lands in her own conversation",
    expect: 404,
    attempt: async () =>
      derived.conversation.id === victim
        ? { status: 200, envelope: true }
        : httpAttempt(lab, 'GET', `/conversations/${derived.conversation.id}`, bearer(bob.token)),
  });
  const transcripts = [bobTranscript];
  return { attacks, controls, victimState, victimBefore, transcripts };
}
