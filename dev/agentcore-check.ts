/**
 * The conformance check for an AgentCore endpoint (SPEC §6, docs/agentcore.md):
 *
 *   npm run agentcore:check -- --url URL [--token T] [--timeout-ms N]
 *
 * It sends bridge requests as agent-chat does and reports, line by line, what passes and what does not: the body
 * is accepted; every chunk passes the protocol schema (the one agent-chat enforces); text and tool chunks are well
 * ordered; the stream ends; an event split across network reads is read the same; a request without the token is
 * refused; an aborted request leaves the agent answering; and whether the agent is resumable, checking that a
 * resumed stream continues exactly. Exit status 1 when a check fails.
 *
 * Its prompts start with a `!dev` line that the dev agent and the Python stand-in obey (a long, slow reply for the
 * abort); an agent with a model reads them as ordinary text.
 */
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createParser } from 'eventsource-parser';
import { z } from 'zod';
import { badEvent, parseEvents } from '../worker/agentcore/upstream';
import { AgentChunk } from '../worker/wire';

export interface CheckOptions {
  url: string;
  token?: string | undefined;
  /** How long any one answer may take (default 30 s). */
  timeoutMs?: number;
}

/** One line of the report: passed, failed, or not applicable (null). */
export interface CheckLine {
  name: string;
  ok: boolean | null;
  detail: string;
}

export interface CheckReport {
  lines: CheckLine[];
  ok: boolean;
  resumable: boolean;
  ms: number;
}

export const CHECKS = {
  accepted: 'the bridge request is accepted',
  schema: 'every chunk passes the protocol schema',
  order: 'text and tool chunks are well ordered',
  ends: 'the stream ends',
  split: 'an event split across network reads is handled',
  token: 'a request without the token is refused',
  abort: 'an abort closes the request promptly and the agent answers the next one',
  resume: 'a resumed stream continues exactly',
} as const;

const GREETING = 'Hello from the agent-chat conformance check. Please answer in one short sentence.';
const LONG = '!dev words=400 delay_ms=10\nPlease write a long answer, several paragraphs, about bridges.';

/** What one request got: the raw reads, the events as JSON text, and how it ended. */
interface Answer {
  status: number;
  headers: Headers;
  reads: Uint8Array[];
  events: string[];
  /** The body reached its end (as opposed to a timeout or an abort). */
  closed: boolean;
  firstChunkMs: number | null;
  error: string | null;
}

export async function checkAgentCore(opts: CheckOptions): Promise<CheckReport> {
  const started = performance.now();
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const lines: CheckLine[] = [];
  const line = (name: string, ok: boolean | null, detail: string) => lines.push({ name, ok, detail });
  const conversationId = randomUUID();
  const key = randomUUID();
  const body = bridgeBody(conversationId, key, GREETING);
  const main = await ask(opts, body, { key }, timeoutMs);

  const accepted = main.status === 200 && isEventStream(main.headers);
  line(CHECKS.accepted, accepted, accepted ? acceptedDetail(main) : refusedDetail(main));
  if (accepted) {
    const { chunks, invalid } = checkSchema(main.events);
    line(CHECKS.schema, invalid === null, invalid ?? `${chunks.length} chunks, all valid`);
    const disorder = orderProblem(chunks);
    line(CHECKS.order, disorder === null, disorder ?? 'parts started before their deltas, tool input before output');
    const end = endProblem(main, chunks);
    line(
      CHECKS.ends,
      end === null,
      end ?? `finish, then the body closed${main.events.at(-1) === '[DONE]' ? ' after [DONE]' : ''}`,
    );
    line(CHECKS.split, ...(await splitCheck(main)));
  } else {
    for (const name of [CHECKS.schema, CHECKS.order, CHECKS.ends, CHECKS.split]) {
      line(name, false, 'not checked: the bridge request was not answered with a stream');
    }
  }

  if (opts.token) {
    const anonymous = await ask(
      { ...opts, token: undefined },
      bridgeBody(conversationId, randomUUID(), GREETING),
      {},
      timeoutMs,
    );
    const refused = anonymous.status === 401 || anonymous.status === 403;
    line(
      CHECKS.token,
      refused,
      refused ? `HTTP ${anonymous.status}` : `answered HTTP ${anonymous.status} without a token`,
    );
  } else {
    line(CHECKS.token, null, 'not checked: no --token given');
  }

  const resumable = main.headers.get('x-resumable') === 'true';
  line(CHECKS.abort, ...(await abortCheck(opts, conversationId, resumable, timeoutMs)));
  if (!accepted) line(CHECKS.resume, false, 'not checked: the bridge request was not answered with a stream');
  else if (!resumable)
    line(
      CHECKS.resume,
      null,
      'the agent is not resumable (no X-Resumable: true): a restart ends its replies as interrupted',
    );
  else line(CHECKS.resume, ...(await resumeCheck(opts, body, key, main, timeoutMs)));

  return { lines, ok: lines.every((l) => l.ok !== false), resumable, ms: Math.round(performance.now() - started) };
}

export function formatReport(url: string, report: CheckReport): string {
  const mark = (ok: boolean | null) => (ok === null ? '-' : ok ? '✓' : '✗');
  const failed = report.lines.filter((l) => l.ok === false).length;
  return [
    `AgentCore conformance check: ${url}`,
    ...report.lines.map((l) => `  ${mark(l.ok)} ${l.name}: ${l.detail}`),
    `${failed ? `${failed} failed` : 'all passed'}; resumable: ${report.resumable ? 'yes' : 'no'}; ${report.ms} ms`,
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------------------------

function bridgeBody(conversationId: string, messageId: string, text: string): string {
  return JSON.stringify({
    id: conversationId,
    messages: [{ id: randomUUID(), role: 'user', parts: [{ type: 'text', text }] }],
    trigger: 'submit-message',
    conversation_id: conversationId,
    user_id: 'agentcore-check',
    message_id: messageId,
  });
}

async function ask(
  opts: CheckOptions,
  body: string,
  extra: { key?: string; resumeFrom?: number; abortAfterFirstDelta?: AbortController },
  timeoutMs: number,
): Promise<Answer> {
  const started = performance.now();
  const controller = extra.abortAfterFirstDelta ?? new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`no end within ${timeoutMs} ms`)), timeoutMs);
  const answer: Answer = {
    status: 0,
    headers: new Headers(),
    reads: [],
    events: [],
    closed: false,
    firstChunkMs: null,
    error: null,
  };
  const parser = createParser({ onEvent: (e) => answer.events.push(e.data) });
  const decoder = new TextDecoder();
  try {
    const res = await fetch(opts.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'text/event-stream',
        'x-request-id': `agentcore-check-${randomUUID()}`,
        ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
        ...(extra.key ? { 'idempotency-key': extra.key } : {}),
        ...(extra.resumeFrom ? { 'x-resume-from': String(extra.resumeFrom) } : {}),
      },
      body,
      signal: controller.signal,
    });
    answer.status = res.status;
    answer.headers = res.headers;
    const reader = res.body?.getReader();
    if (!reader) return answer;
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      answer.reads.push(r.value);
      parser.feed(decoder.decode(r.value, { stream: true }));
      answer.firstChunkMs ??= answer.events.length ? Math.round(performance.now() - started) : null;
      if (extra.abortAfterFirstDelta && answer.events.some((e) => e.includes('"text-delta"'))) {
        extra.abortAfterFirstDelta.abort(new Error('aborted by the check'));
      }
    }
    answer.closed = true;
  } catch (err) {
    answer.error = controller.signal.aborted ? String((controller.signal.reason as Error)?.message) : String(err);
  } finally {
    clearTimeout(timer);
  }
  return answer;
}

const isEventStream = (headers: Headers) => /^text\/event-stream\b/i.test(headers.get('content-type') ?? '');

function acceptedDetail(a: Answer): string {
  return `HTTP 200 text/event-stream, first event in ${a.firstChunkMs ?? '?'} ms`;
}

function refusedDetail(a: Answer): string {
  if (a.status === 0) return `no answer: ${a.error}`;
  const text = new TextDecoder().decode(a.reads[0] ?? new Uint8Array()).slice(0, 160);
  return `HTTP ${a.status} ${a.headers.get('content-type') ?? 'no content type'}: ${text}`;
}

function checkSchema(events: string[]): { chunks: AgentChunk[]; invalid: string | null } {
  const chunks: AgentChunk[] = [];
  for (const [i, data] of events.entries()) {
    if (data === '[DONE]') continue;
    let value: unknown;
    try {
      value = JSON.parse(data);
    } catch (error) {
      return { chunks, invalid: `event ${i}: ${badEvent({ error: error as Error, data })}` };
    }
    const parsed = AgentChunk.safeParse(value);
    if (!parsed.success) return { chunks, invalid: `event ${i}: ${badEvent({ error: parsed.error, data })}` };
    chunks.push(parsed.data);
  }
  return { chunks, invalid: null };
}

/** The first ordering rule the chunks break, or null. */
export function orderProblem(chunks: AgentChunk[]): string | null {
  const open = new Map<string, 'open' | 'ended'>();
  const toolsStarted = new Set<string>();
  const toolsWithInput = new Set<string>();
  for (const [i, chunk] of chunks.entries()) {
    const at = `chunk ${i}`;
    const kind = /^(text|reasoning)-(start|delta|end)$/.exec(chunk.type);
    if (kind && 'id' in chunk && typeof chunk.id === 'string') {
      const id = `${kind[1]}:${chunk.id}`;
      const state = open.get(id);
      if (kind[2] === 'start') {
        if (state === 'open') return `${at}: ${chunk.type} for "${chunk.id}", which is already open`;
        open.set(id, 'open');
      } else if (state !== 'open') {
        return `${at}: ${chunk.type} for "${chunk.id}" ${state === 'ended' ? 'after its end' : `before its ${kind[1]}-start`}`;
      } else if (kind[2] === 'end') open.set(id, 'ended');
      continue;
    }
    if (!('toolCallId' in chunk) || typeof chunk.toolCallId !== 'string') {
      if (chunk.type === 'start' && i !== 0) return `${at}: start is not the first chunk`;
      if (chunk.type === 'finish' && i !== chunks.length - 1) return `${at}: chunks after finish`;
      continue;
    }
    const id = chunk.toolCallId;
    if (chunk.type === 'tool-input-start') toolsStarted.add(id);
    if (chunk.type === 'tool-input-delta' && !toolsStarted.has(id)) {
      return `${at}: tool-input-delta for "${id}" before its tool-input-start`;
    }
    if (chunk.type === 'tool-input-available' || chunk.type === 'tool-input-error') toolsWithInput.add(id);
    if (chunk.type.startsWith('tool-output-') && !toolsWithInput.has(id)) {
      return `${at}: ${chunk.type} for "${id}" before its tool-input-available`;
    }
  }
  return null;
}

function endProblem(a: Answer, chunks: AgentChunk[]): string | null {
  if (!a.closed) return `the body did not end: ${a.error}`;
  const last = chunks.at(-1);
  if (last?.type === 'error') return `the agent answered an error chunk: ${last.errorText}`;
  if (last?.type !== 'finish')
    return `the body closed after ${last ? `a ${last.type} chunk` : 'no chunk'}, without finish`;
  return null;
}

/**
 * The body re-read one byte per read by agent-chat's own reader must give the same events as it did as received,
 * however the agent's writes fell into network reads.
 */
async function splitCheck(a: Answer): Promise<[boolean, string]> {
  const bytes = Buffer.concat(a.reads);
  let at = 0;
  const byteByByte = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at < bytes.length) controller.enqueue(bytes.subarray(at, ++at));
      else controller.close();
    },
  });
  const again: string[] = [];
  for await (const e of parseEvents(byteByByte, z.unknown())) {
    if (e.success) again.push(JSON.stringify(e.value));
  }
  const received = a.events.filter((d) => d !== '[DONE]').map((d) => JSON.stringify(JSON.parse(d)));
  const split = splitEvents(a.reads);
  const same = again.length === received.length && again.every((d, i) => d === received[i]);
  return [
    same,
    same
      ? `${split} of ${received.length} events arrived split across reads; re-read byte by byte, the same ${received.length} events`
      : `re-read byte by byte, ${again.length} events instead of ${received.length}`,
  ];
}

/** How many reads ended inside an event (not on the blank line that ends one). */
function splitEvents(reads: Uint8Array[]): number {
  const decoder = new TextDecoder();
  return reads.filter((r) => !/\n\r?\n$|\r\r$/.test(decoder.decode(r))).length;
}

async function abortCheck(
  opts: CheckOptions,
  conversationId: string,
  resumable: boolean,
  timeoutMs: number,
): Promise<[boolean, string]> {
  const key = randomUUID();
  const controller = new AbortController();
  const abortedAt = { ms: 0 };
  controller.signal.addEventListener('abort', () => {
    abortedAt.ms = performance.now();
  });
  const long = await ask(
    opts,
    bridgeBody(conversationId, key, LONG),
    { key, abortAfterFirstDelta: controller },
    timeoutMs,
  );
  const closedMs = Math.round(performance.now() - abortedAt.ms);
  if (!controller.signal.aborted) {
    return [
      long.closed && long.status === 200,
      `the reply ended before a text delta could be aborted (HTTP ${long.status})`,
    ];
  }
  const nextStarted = performance.now();
  const next = await ask(opts, bridgeBody(conversationId, randomUUID(), GREETING), {}, timeoutMs);
  const nextMs = Math.round(performance.now() - nextStarted);
  if (next.status !== 200 || !next.closed)
    return [false, `after an abort the next request got HTTP ${next.status}: ${next.error ?? ''}`];
  let run = '';
  if (resumable) {
    const delivered = long.events.filter((d) => d !== '[DONE]').length;
    // Only its answer matters: it is dropped at its first text delta, as the first one was.
    const resumed = await ask(
      opts,
      bridgeBody(conversationId, key, LONG),
      { key, resumeFrom: delivered, abortAfterFirstDelta: new AbortController() },
      timeoutMs,
    );
    run =
      resumed.status === 409
        ? '; the aborted run was cancelled (a resume is refused with 409)'
        : `; the aborted run was kept (a resume answered HTTP ${resumed.status})`;
  }
  return [true, `closed ${closedMs} ms after the abort; the next request ended in ${nextMs} ms${run}`];
}

async function resumeCheck(
  opts: CheckOptions,
  body: string,
  key: string,
  main: Answer,
  timeoutMs: number,
): Promise<[boolean, string]> {
  const from = Math.floor(main.events.filter((d) => d !== '[DONE]').length / 2);
  const resumed = await ask(opts, body, { key, resumeFrom: from }, timeoutMs);
  if (resumed.status !== 200) return [false, `X-Resume-From: ${from} answered HTTP ${resumed.status}`];
  const expected = main.events.slice(from);
  const same = resumed.events.length === expected.length && resumed.events.every((d, i) => d === expected[i]);
  if (same) return [true, `X-Resume-From: ${from} gave chunks ${from}.. of the first answer, exactly`];
  const at = resumed.events.findIndex((d, i) => d !== expected[i]);
  return [
    false,
    `X-Resume-From: ${from}: event ${at < 0 ? resumed.events.length : at} differs (${resumed.events.length} events, expected ${expected.length})`,
  ];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { url: { type: 'string' }, token: { type: 'string' }, 'timeout-ms': { type: 'string' } },
  });
  if (!values.url) {
    console.error('usage: npm run agentcore:check -- --url URL [--token T] [--timeout-ms N]');
    process.exit(2);
  }
  const report = await checkAgentCore({
    url: values.url,
    token: values.token,
    timeoutMs: values['timeout-ms'] ? Number(values['timeout-ms']) : undefined,
  });
  console.log(formatReport(values.url, report));
  process.exit(report.ok ? 0 : 1);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
