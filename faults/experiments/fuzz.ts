/**
 * Experiment 6: property-based fuzzing (fast-check) of every REST body, query string and path, and of WebSocket
 * frames, generated from the wire schemas (worker/wire.ts) and mutated: wrong types, missing and extra fields, huge
 * and deeply nested values, bad UTF-8, NUL and lone surrogates, boundary lengths. Properties: never a 5xx, every
 * refusal is the JSON envelope (or an `error` frame), the socket stays open after a refused frame, nothing refused
 * is stored, and what was admitted obeys the invariants.
 */
import fc from 'fast-check';
import type { z } from 'zod';
import {
  ClientFrame,
  CreateConversationBody,
  ErrorEnvelope,
  ListConversationsQuery,
  MAX_CONTENT_CODE_POINTS,
  MAX_TITLE_CODE_POINTS,
  MessagesQuery,
  SendMessageBody,
  type ServerFrame,
  UpdateConversationBody,
  WsTicketBody,
} from '../../worker/wire';
import { type Experiment, outcome, scaled, withLab } from '../experiment';
import { addVerdict, checkInvariants, Transcript } from '../invariants';
import type { Socket, User } from '../lab';

const huge = (n: number, unit = 'x') => unit.repeat(n);
/** Values that have broken servers of this kind: huge, deep, NUL, lone surrogates, boundary lengths. */
const nasty = fc.constantFrom<unknown>(
  '',
  ' ',
  '\n\t ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfffy',
  '\ufeff',
  '\u202e!dev',
  huge(MAX_CONTENT_CODE_POINTS),
  huge(MAX_CONTENT_CODE_POINTS + 1),
  huge(MAX_CONTENT_CODE_POINTS, '😀'),
  huge(MAX_TITLE_CODE_POINTS),
  huge(MAX_TITLE_CODE_POINTS + 1),
  huge(MAX_TITLE_CODE_POINTS, '😀'),
  huge(200, 'c'),
  huge(201, 'c'),
  -1,
  0,
  2 ** 31,
  1e308,
  Number.MAX_SAFE_INTEGER,
  true,
  null,
  [],
  {},
  { $gt: '' },
  '00000000-0000-0000-0000-000000000000',
  'FFFFFFFF-FFFF-8FFF-BFFF-FFFFFFFFFFFF',
  '../../etc/passwd',
  "'; drop table conversation_messages; --",
  JSON.parse(`${'['.repeat(2000)}${']'.repeat(2000)}`),
);

const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 3, arbitrary: nasty },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.uuid() },
);

/** A plausible value for a field of the wire schemas, by name; mutated values come from anyValue. */
function validFor(field: string, conversationId: string): fc.Arbitrary<unknown> {
  switch (field) {
    case 'content':
      return fc.oneof(
        fc.string({ minLength: 1, maxLength: 60 }),
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }),
        // Text Postgres cannot hold as such: NUL and lone surrogates, inside otherwise valid content.
        fc.constantFrom('a\u0000b', 'x\ud800y', '\udfff!', huge(MAX_CONTENT_CODE_POINTS, '😀')),
      );
    case 'title':
      return fc.string({ minLength: 1, maxLength: 40 });
    case 'conversation_id':
      return fc.oneof(fc.constant(conversationId), fc.uuid({ version: 4 }));
    case 'client_message_id':
      return fc.oneof(fc.uuid({ version: 4 }), fc.string({ minLength: 1, maxLength: 200 }));
    case 'limit':
      return fc.integer({ min: -5, max: 250 }).map(String);
    case 'cursor':
      return fc.string({ maxLength: 60 });
    case 'before_seq':
    case 'after_seq':
      return fc.oneof(fc.integer({ min: -2, max: 40 }).map(String), fc.constant('2147483648'));
    case 'message_id':
      return fc.uuid({ version: 4 });
    case 'from_index':
      return fc.integer({ min: -3, max: 50 });
    default:
      return anyValue;
  }
}

/** Objects built from a zod object schema's fields: each present or not, valid or mutated, plus stray fields. */
function objectFrom(
  shape: Record<string, unknown>,
  conversationId: string,
  fixed: Record<string, unknown> = {},
): fc.Arbitrary<Record<string, unknown>> {
  const fields = Object.keys(shape).filter((k) => !(k in fixed));
  const entries = fields.map((k) =>
    fc.oneof(
      { weight: 6, arbitrary: validFor(k, conversationId).map((v) => [k, v] as const) },
      { weight: 2, arbitrary: anyValue.map((v) => [k, v] as const) },
      { weight: 2, arbitrary: fc.constant([k, undefined] as const) },
    ),
  );
  return fc
    .tuple(fc.tuple(...entries), fc.option(fc.tuple(fc.string({ maxLength: 12 }), anyValue), { freq: 5 }))
    .map(([pairs, extra]) => {
      const o: Record<string, unknown> = { ...fixed };
      for (const [k, v] of pairs) if (v !== undefined) o[k] = v;
      if (extra && !(extra[0] in o)) o[extra[0]] = extra[1];
      return o;
    });
}

interface RestCase {
  method: string;
  path: string;
  body?: string | Uint8Array;
  contentType?: string;
  /** The schema that decides whether the server must refuse it (null: any status but 5xx will do). */
  schema: z.ZodType | null;
  value?: unknown;
}

const BAD_UTF8 = new Uint8Array([
  0x7b, 0x22, 0x63, 0x6f, 0x6e, 0x74, 0x65, 0x6e, 0x74, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x22, 0x7d,
]);

function encodings(
  value: Record<string, unknown>,
): fc.Arbitrary<{ body: string | Uint8Array; contentType: string; raw: boolean }> {
  const json = JSON.stringify(value);
  return fc.oneof(
    { weight: 12, arbitrary: fc.constant({ body: json, contentType: 'application/json', raw: false }) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        { body: json.slice(0, -1), contentType: 'application/json', raw: true },
        { body: BAD_UTF8, contentType: 'application/json', raw: true },
        { body: '', contentType: 'application/json', raw: true },
        { body: json, contentType: 'text/plain', raw: true },
        { body: json, contentType: 'application/x-www-form-urlencoded', raw: true },
        { body: `${'['.repeat(100_000)}${']'.repeat(100_000)}`, contentType: 'application/json', raw: true },
        { body: `{"content":"${'x'.repeat(300 * 1024)}"}`, contentType: 'application/json', raw: true },
        { body: '\ufeff{"content":"bom"}', contentType: 'application/json', raw: true },
        { body: 'null', contentType: 'application/json', raw: true },
        { body: '[]', contentType: 'application/json; charset=latin1', raw: true },
      ),
    },
  );
}

/**
 * The longest URL Cloudflare's edge passes to a Worker; it answers 414 itself beyond that. Locally nothing stands
 * in for the edge: workerd reads request heads up to about 256 KiB and resets the connection on a longer one,
 * sometimes before any answer (a 384 KiB query string did). Cases stay within what a deployed Worker can receive.
 */
const EDGE_MAX_URL_BYTES = 16 * 1024;

function restCases(conversationId: string): fc.Arbitrary<RestCase> {
  const bodyCase = (method: string, path: fc.Arbitrary<string>, schema: z.ZodObject) =>
    fc.tuple(path, objectFrom(schema.shape, conversationId)).chain(([p, value]) =>
      encodings(value).map((e) => ({
        method,
        path: p,
        body: e.body,
        contentType: e.contentType,
        schema: e.raw ? null : schema,
        value,
      })),
    );
  const idPath = fc.oneof(
    { weight: 4, arbitrary: fc.constant(conversationId) },
    { weight: 2, arbitrary: fc.uuid() },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '',
        'not-a-uuid',
        '%ff%fe',
        '..%2f..%2f',
        '%00',
        conversationId.toUpperCase(),
        `${conversationId}x`,
        huge(5000),
      ),
    },
    { weight: 1, arbitrary: fc.string({ maxLength: 30 }).map(encodeURIComponent) },
  );
  const queryOf = (schema: z.ZodObject) =>
    objectFrom(schema.shape, conversationId).map((q) => {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(q)) params.append(k, typeof v === 'string' ? v : (JSON.stringify(v) ?? ''));
      return params.toString();
    });
  return fc
    .oneof(
      bodyCase('POST', fc.constant('/conversations'), CreateConversationBody),
      bodyCase(
        'PATCH',
        idPath.map((id) => `/conversations/${id}`),
        UpdateConversationBody,
      ),
      { weight: 2, arbitrary: bodyCase('POST', fc.constant('/messages'), SendMessageBody) },
      bodyCase('POST', fc.constant('/ws-ticket'), WsTicketBody),
      queryOf(ListConversationsQuery).map((q) => ({ method: 'GET', path: `/conversations?${q}`, schema: null })),
      fc
        .tuple(idPath, queryOf(MessagesQuery as unknown as z.ZodObject))
        .map(([id, q]) => ({ method: 'GET', path: `/conversations/${id}/messages?${q}`, schema: null })),
      fc
        .tuple(
          fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'),
          idPath,
          fc.constantFrom('', '/stop', '/stream', '/messages', '/ws', '/../../conversations', '/x', '/stop/'),
        )
        .filter(([m, id, tail]) => !(m === 'DELETE' && id === conversationId && tail === ''))
        .map(([method, id, tail]) => ({ method, path: `/conversations/${id}${tail}`, schema: null })),
    )
    .filter((c: RestCase) => Buffer.byteLength(c.path) <= EDGE_MAX_URL_BYTES);
}

/** The three legitimate answers to a stored send: the reply, a stream, or a refusal that stores nothing. */
interface Tally {
  cases: number;
  admitted: number;
  refused: number;
  failures: string[];
}

async function fuzzRest(alice: User, runs: number, transcripts: Map<string, Transcript>, tally: Tally): Promise<void> {
  const main = transcripts.values().next().value as Transcript;
  const property = fc.asyncProperty(restCases(main.conversationId), async (c) => {
    tally.cases++;
    const r = await alice.call(c.method, c.path, c.body, c.contentType ? { 'content-type': c.contentType } : {});
    if (r.status >= 500) throw new Error(`${c.method} ${c.path} → ${r.status} ${r.text.slice(0, 200)}`);
    // 414/431 come from the HTTP layer in front of the Worker (the edge in production).
    if (
      r.status >= 400 &&
      r.status !== 414 &&
      r.status !== 431 &&
      c.method !== 'HEAD' &&
      !ErrorEnvelope.safeParse(r.body).success
    ) {
      throw new Error(`${c.method} ${c.path} → ${r.status} without the error envelope: ${r.text.slice(0, 200)}`);
    }
    const valid = c.schema ? c.schema.safeParse(c.value).success && codePointsOk(c.value) : undefined;
    if (valid === false && r.status < 400) {
      throw new Error(
        `${c.method} ${c.path} accepted a body its schema refuses (${r.status}): ${String(c.body).slice(0, 200)}`,
      );
    }
    if (r.status >= 400) {
      tally.refused++;
      return;
    }
    tally.admitted++;
    record(r.body, c, alice, transcripts);
  });
  await fc.assert(property, { numRuns: runs, seed: seedOf('rest'), endOnFailure: true });
}

/** Content over 32,000 code points is a 413 the schema itself does not say. */
function codePointsOk(value: unknown): boolean {
  const content = (value as { content?: unknown } | null)?.content;
  return typeof content !== 'string' || [...content].length <= MAX_CONTENT_CODE_POINTS;
}

function record(body: unknown, c: RestCase, user: User, transcripts: Map<string, Transcript>): void {
  if (c.method === 'POST' && c.path === '/conversations') {
    const id = (body as { id: string }).id;
    transcripts.set(id, new Transcript(user, id));
    return;
  }
  if (c.method !== 'POST' || c.path !== '/messages') return;
  const sent = body as {
    conversation: { id: string };
    message: { id: string; client_message_id: string | null; content: string };
    reply: { id: string; status: 'complete' };
  };
  let t = transcripts.get(sent.conversation.id);
  if (!t) {
    t = new Transcript(user, sent.conversation.id);
    transcripts.set(t.conversationId, t);
  }
  const key = sent.message.client_message_id ?? undefined;
  if (key !== undefined && t.admitted.some((s) => s.clientMessageId === key)) return; // an idempotent repeat
  t.admitted.push({ clientMessageId: key, messageId: sent.message.id, content: sent.message.content });
}

function frameCases(): fc.Arbitrary<unknown> {
  const variants = ClientFrame.options.map((schema) => {
    const type = (schema.shape.type as { value: string }).value;
    return objectFrom(schema.shape, '', { type });
  });
  return fc.oneof(
    { weight: 8, arbitrary: fc.oneof(...variants) },
    { weight: 2, arbitrary: objectFrom({ type: 1, content: 1, client_message_id: 1 }, '') },
    {
      weight: 1,
      arbitrary: fc.constantFrom<unknown>(
        'not json',
        '',
        '{',
        'null',
        '[]',
        '"send"',
        '{"type":"send","content":"x","client_message_id":"y","type":"stop"}',
        `${'['.repeat(20_000)}${']'.repeat(20_000)}`,
        JSON.stringify({ type: 'send', content: huge(MAX_CONTENT_CODE_POINTS + 1), client_message_id: 'huge' }),
        JSON.stringify({ type: 'send', content: huge(100 * 1024), client_message_id: 'huge2' }),
      ),
    },
  );
}

const SENTINEL = '00000000-0000-4000-8000-00000000fa17';

/**
 * One frame, then a `resume` of an unknown reply as a sentinel: the room handles a socket's frames in order, so once
 * the sentinel's not_found arrives the fuzzed frame has been handled and every frame it caused is in.
 */
async function fuzzFrames(alice: User, runs: number, t: Transcript, tally: Tally): Promise<void> {
  let socket = await alice.socket(t.conversationId);
  const property = fc.asyncProperty(frameCases(), async (frame) => {
    tally.cases++;
    const text = typeof frame === 'string' ? frame : JSON.stringify(frame);
    const from = socket.frames.length;
    socket.send(text);
    socket.send({ type: 'resume', message_id: SENTINEL, from_index: 0 });
    const parsed = parseFrame(text);
    // A not_found that names a client_message_id answers a send or regenerate (edit_of or message_id unknown), not
    // the sentinel.
    const isSentinel = (f: ServerFrame) => f.type === 'error' && f.code === 'not_found' && !f.client_message_id;
    await socket.until((fs) => fs.slice(from).filter(isSentinel).length >= 1 + expectedNotFound(text), 30_000);
    // A send is answered on its own time (the room takes the sentinel while it waits on storage): wait for its answer.
    const cmid =
      parsed.success && (parsed.data.type === 'send' || parsed.data.type === 'regenerate')
        ? parsed.data.client_message_id
        : undefined;
    const answersSend = (f: ServerFrame) =>
      (f.type === 'message' && f.message.role === 'user' && f.message.client_message_id === cmid) ||
      (f.type === 'error' && f.client_message_id === cmid);
    if (cmid !== undefined) await socket.until((fs) => fs.slice(from).some(answersSend));
    const answers = socket.frames.slice(from);
    const sent = cmid === undefined ? undefined : answers.find((f) => f.type === 'message' && answersSend(f));
    const refusal = answers.find((f) => f.type === 'error' && f.code !== 'not_found');
    if (!parsed.success && !refusal) throw new Error(`no error frame for a bad frame: ${text.slice(0, 200)}`);
    const stray = answers.find((f) => f.type === 'message' && f.message.role === 'user' && f !== sent);
    if (stray) throw new Error(`a message was stored that no good frame sent, after: ${text.slice(0, 200)}`);
    if (sent?.type === 'message') {
      tally.admitted++;
      if (!t.admitted.some((s) => s.clientMessageId === cmid)) {
        t.admitted.push({ clientMessageId: cmid, content: sent.message.content });
      }
      await socket.until((fs) =>
        fs.some(
          (f) => f.type === 'message' && f.message.reply_to === sent.message.id && f.message.status !== 'streaming',
        ),
      );
    } else {
      tally.refused++;
    }
    if (socket.closed) throw new Error(`the socket closed (${socket.closed.code}) after: ${text.slice(0, 200)}`);
  });
  try {
    await fc.assert(property, { numRuns: runs, seed: seedOf('frames'), endOnFailure: true });
  } finally {
    socket.close();
  }
  // The frames the spec says close the socket: binary (1003) and over 256 KiB (1009); the conversation stays usable.
  for (const [payload, code] of [
    [Buffer.from([1, 2, 3]), 1003],
    [JSON.stringify({ type: 'send', content: huge(300 * 1024), client_message_id: 'too-big' }), 1009],
  ] as const) {
    socket = await alice.socket(t.conversationId);
    socket.ws.send(payload, { binary: typeof payload !== 'string' });
    const closed = await socket.closedWith();
    if (closed.code !== code) tally.failures.push(`expected close ${code}, got ${closed.code} ${closed.reason}`);
  }
  await closeOnBadUtf8(alice, t, tally);
}

/** A text frame that is not UTF-8 is a protocol error the runtime answers by closing; it must not be a 1011. */
async function closeOnBadUtf8(alice: User, t: Transcript, tally: Tally): Promise<void> {
  const socket: Socket = await alice.socket(t.conversationId);
  socket.ws.send(BAD_UTF8, { binary: false });
  const closed = await socket.closedWith().catch(() => undefined);
  if (closed?.code === 1011) tally.failures.push('a text frame with bad UTF-8 closed the socket with 1011');
  if (!closed) socket.close();
}

/**
 * The sentinel-like answers a valid frame gets: `resume` and `switch` name a message id the conversation does not have
 * (fast-check's random UUIDs), answered not_found. Uncounted, that answer ends the wait before the sentinel's own,
 * which then lands in the next case's answers and ends its wait before its refusal is in.
 */
function expectedNotFound(text: string): number {
  const parsed = parseFrame(text);
  return parsed.success && (parsed.data.type === 'resume' || parsed.data.type === 'switch') ? 1 : 0;
}

function parseFrame(text: string): ReturnType<typeof ClientFrame.safeParse> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return ClientFrame.safeParse(undefined);
  }
  if (!codePointsOk(raw)) return ClientFrame.safeParse(undefined);
  return ClientFrame.safeParse(raw);
}

/** A fixed seed per part so a failure is re-run exactly (FAULTS_SEED=n to explore others). */
function seedOf(part: string): number {
  const base = Number(process.env.FAULTS_SEED ?? 1515);
  return base + (part === 'rest' ? 0 : 1);
}

export const fuzz: Experiment = {
  key: 'fuzz',
  title: '6 fuzz (REST + WebSocket)',
  async run(profile, log, labs) {
    const runs = scaled(profile, { short: 300, full: 10_000 });
    const result = outcome('0 × 5xx, envelope on every refusal, socket alive, nothing refused stored, invariants');
    return withLab(
      () => labs.borrow(),
      result,
      async (lab) => {
        const alice = await lab.user();
        const main = new Transcript(alice, await alice.conversation());
        const transcripts = new Map([[main.conversationId, main]]);
        const tally: Tally = { cases: 0, admitted: 0, refused: 0, failures: result.failures };
        const failed = (err: unknown) => {
          const cause = err instanceof Error && err.cause instanceof Error ? `\n    cause: ${err.cause.message}` : '';
          result.failures.push(`${err instanceof Error ? err.message : String(err)}${cause}`);
        };
        await fuzzRest(alice, runs, transcripts, tally).catch(failed);
        log(`REST: ${tally.cases} cases, ${tally.admitted} admitted, ${tally.refused} refused`);
        const restCases = tally.cases;
        const wsConversation = new Transcript(alice, await alice.conversation());
        transcripts.set(wsConversation.conversationId, wsConversation);
        await fuzzFrames(alice, runs, wsConversation, tally).catch(failed);
        log(`WebSocket: ${tally.cases - restCases} frames`);
        result.trials = tally.cases;
        result.figures.push(
          `${restCases} REST cases and ${tally.cases - restCases} frames: ${tally.admitted} admitted, ${tally.refused} refused (seed ${seedOf('rest')})`,
        );
        const listed = await lab.pg<{ n: string }>('select count(*) as n from conversation_states where user_id = $1', [
          alice.id,
        ]);
        const v = await checkInvariants(lab, [...transcripts.values()]);
        addVerdict(result.verdict, v);
        if (Number(listed[0]?.n) !== transcripts.size) {
          result.failures.push(
            `${listed[0]?.n} conversations in Postgres, ${transcripts.size} created by admitted requests`,
          );
        }
        const health = await alice.call('GET', '/healthz');
        if (health.status !== 200) result.failures.push(`healthz ${health.status} after the fuzz`);
      },
    );
  },
};
