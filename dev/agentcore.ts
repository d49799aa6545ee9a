/**
 * The dev AgentCore (SPEC §6): speaks the bridge protocol with no model. It streams a deterministic answer word by
 * word, calls real tools (calculator, clock) and says plainly that it is a dev agent.
 *
 * Tests steer it with a first line `!dev <options>`; the rest of the message is the prompt:
 *   words=N       answer with exactly N words, one text-delta each
 *   delay_ms=N    wait N ms before each chunk, the first too (plain prompts default to DEV_AGENT_DELAY_MS, 10)
 *   fail_after=N  N word deltas, then an `error` chunk and close
 *   cut_after=N   N word deltas, then drop the connection (no finish)
 *   hang_after=N  N word deltas, then silence until the client goes away
 *   once          with fail_after, cut_after or hang_after: only the first time this prompt is asked in the
 *                 conversation; asked again (a Retry, whose history holds the same prompt before), the reply is whole
 *   calc=EXPR     call the calculator tool on EXPR (+ - * / % ^ and parentheses) and answer with the result
 *   echo          answer with the prompt text
 *   bad_chunk     (hidden, for bridge tests) send a text-delta without `delta`, which breaks the chunk schema
 *   garbage       (hidden) after the words, an event whose data is not JSON
 *   unknown_chunk (hidden) after the words, a chunk of a type the protocol does not have
 *   not_sse       (hidden) answer 200 with a text/plain body instead of an event stream
 *   status=N      (hidden) answer HTTP N with a JSON error instead of a stream
 *   no_resume     (hidden) answer as an agent that does not resume: no X-Resumable, nothing kept
 *   poison        (hidden) answer with text holding NUL and an unpaired surrogate (as JSON escapes), which
 *                 Postgres cannot store: the room must keep U+FFFD in their place (faults/, experiment 3)
 *   inspect       (hidden, for bridge tests) answer with what the request carried, every body field and header
 *                 of SPEC §6: message_id, idempotency_key, bearer (yes/no, never the token), accept, the number
 *                 of messages and their ids in order, request_id, trigger, how many requests its connection has
 *                 carried (this one included), id, conversation_id, user_id, content_type, resume_from, and
 *                 replaces (the body's messageId: the reply a regenerate replaces)
 * A prompt asking for the time or the clock calls the clock tool.
 *
 * With OPENAI_BASE_URL (or opts.openaiBaseUrl) messages without `!dev` are forwarded to that OpenAI-compatible API
 * (OPENAI_API_KEY, OPENAI_MODEL) and its stream is translated into the same chunks. `!dev` messages stay
 * deterministic so tests keep working.
 *
 * It also serves a deterministic fake OpenAI-compatible API under /openai/v1 (chat/completions, models): a last
 * user message starting with `calc:` gets streamed tool calls, `think:` gets reasoning first, `fail:` an error mid-stream.
 *
 * Resumable (SPEC §6): every reply is kept under its Idempotency-Key for 10 minutes; a retry gets it again, and
 * `X-Resume-From: n` gets it from its chunk n on (409 cannot_resume for a key it does not keep).
 *
 * DEV_AGENT_TOKEN set: requests must carry `Authorization: Bearer <it>`. DEBUG set: one log line per request.
 * Standalone: `tsx dev/agentcore.ts` (PORT, default 8788; HOST, default 127.0.0.1).
 */

import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import type { UIMessage } from 'ai';
import { streamChatCompletions } from '../worker/agentcore/openai';
import { keepConnectionsLongerThanClients } from './keep-alive';

export interface DevAgentOptions {
  port: number;
  host?: string;
  /** Forward plain (non-`!dev`) prompts to this OpenAI-compatible base URL; defaults to OPENAI_BASE_URL. */
  openaiBaseUrl?: string;
  /** Delay between chunks for plain prompts; defaults to DEV_AGENT_DELAY_MS or 10. */
  replyDelayMs?: number;
}

export interface DevAgent {
  /** The bridge endpoint: POST here (SPEC §6). */
  url: string;
  base: string;
  close(): Promise<void>;
}

export const DEV_METADATA = { agent: 'dev', model: 'dev-agent' } as const;

const MAX_BODY_BYTES = 8 * 1024 * 1024;
const debug = process.env.DEBUG ? (...args: unknown[]) => console.error('[dev-agent]', ...args) : () => {};

export async function startDevAgent(opts: DevAgentOptions): Promise<DevAgent> {
  const host = opts.host ?? '127.0.0.1';
  const settings: Settings = {
    token: process.env.DEV_AGENT_TOKEN || undefined,
    openaiBaseUrl: opts.openaiBaseUrl ?? (process.env.OPENAI_BASE_URL || undefined),
    replyDelayMs: opts.replyDelayMs ?? Number(process.env.DEV_AGENT_DELAY_MS ?? 10),
  };
  const server = createServer({ noDelay: true }, (req, res) => {
    requestsOn.set(req.socket, (requestsOn.get(req.socket) ?? 0) + 1);
    route(req, res, settings).catch((err: unknown) => {
      debug('request failed', err);
      if (!res.headersSent) sendJson(res, 500, { error: { code: 'internal', message: 'dev agent failed' } });
      else res.destroy();
    });
  });
  keepConnectionsLongerThanClients(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const base = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url: `${base}/v1/agent`,
    base,
    close: () =>
      new Promise<void>((resolve, reject) => {
        // Hanging replies keep their sockets open on purpose; close must not wait for them.
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

interface Settings {
  token: string | undefined;
  openaiBaseUrl: string | undefined;
  replyDelayMs: number;
}

async function route(req: IncomingMessage, res: ServerResponse, settings: Settings): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://dev-agent').pathname;
  debug(req.method, path);
  if (path === '/healthz') return sendJson(res, 200, { status: 'ok', ...DEV_METADATA });
  if (path === '/v1/agent') {
    if (req.method !== 'POST') return sendJson(res, 405, { error: { code: 'invalid_request', message: 'use POST' } });
    if (settings.token && req.headers.authorization !== `Bearer ${settings.token}`) {
      return sendJson(res, 401, { error: { code: 'unauthorized', message: 'bad agent token' } });
    }
    return handleAgent(req, res, settings);
  }
  if (path === '/openai/v1/chat/completions' && req.method === 'POST') return handleFakeCompletions(req, res);
  if (path === '/openai/v1/models') {
    return sendJson(res, 200, { object: 'list', data: [{ id: 'dev-openai', object: 'model', owned_by: 'dev' }] });
  }
  sendJson(res, 404, { error: { code: 'not_found', message: 'not found' } });
}

// ---------------------------------------------------------------------------------------------------------------
// The bridge endpoint

interface AgentRequest {
  messageId: string;
  trigger: string;
  messages: UIMessage[];
  /** The body's own fields as sent ('none' when absent), for `inspect`. */
  sent: { id: string; conversationId: string; userId: string; replaces: string };
}

async function handleAgent(req: IncomingMessage, res: ServerResponse, settings: Settings): Promise<void> {
  const turn = parseAgentRequest(await readJson(req), header(req, 'idempotency-key'));
  if (typeof turn === 'string') return sendJson(res, 400, { error: { code: 'invalid_request', message: turn } });
  const { options, prompt } = parseDevPrompt(lastUserText(turn.messages));
  if (options && !(options instanceof Error) && options.once && askedBefore(turn.messages)) {
    options.failAfter = options.cutAfter = options.hangAfter = undefined;
  }
  if (options && !(options instanceof Error) && options.status !== undefined) {
    const message = `dev agent: answering HTTP ${options.status} on purpose (status)`;
    return sendJson(res, options.status, { error: { code: 'dev_status', message } });
  }
  if (options && !(options instanceof Error) && options.notSse) {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('dev agent: plain text on purpose (not_sse)');
    return;
  }
  if (!options && settings.openaiBaseUrl) return forward(openStream(res, false), turn, settings.openaiBaseUrl);
  const key = header(req, 'idempotency-key');
  const resumeFrom = Number(header(req, 'x-resume-from') ?? '0');
  if (!Number.isInteger(resumeFrom) || resumeFrom < 0) {
    return sendJson(res, 400, { error: { code: 'invalid_request', message: 'X-Resume-From must be a whole number' } });
  }
  // A continuation after a tool approval (SPEC §9) is a run of its own under the same message id.
  const answered = approvalAnswered(turn.messages);
  const runKey = key && answered ? `${key}:${turn.messages.at(-1)?.id ?? ''}` : key;
  const kept = runKey ? runs.get(runKey) : undefined;
  if (resumeFrom > 0 && !kept) {
    return sendJson(res, 409, {
      error: { code: 'cannot_resume', message: 'no run is kept under this Idempotency-Key' },
    });
  }
  const run = kept ?? {
    beats:
      options instanceof Error
        ? failure(turn.messageId, options.message)
        : options?.inspect
          ? planReply(turn.messageId, { ...options, echo: true }, describeRequest(req, turn))
          : planReply(turn.messageId, options ?? {}, prompt, new Date(), answered),
    delayMs: options && !(options instanceof Error) ? (options.delayMs ?? 0) : settings.replyDelayMs,
    keptAt: Date.now(),
  };
  const resumable = !(options && !(options instanceof Error) && options.noResume);
  if (runKey && !kept && resumable) keepRun(runKey, run);
  await play(openStream(res, resumable), skipChunks(run.beats, resumeFrom), run.delayMs);
}

/**
 * Runs kept under their Idempotency-Key (SPEC §6, resumable agents): a retry gets the same reply, and
 * `X-Resume-From: n` the same reply from its chunk n on. The reply is decided up front, so keeping its plan is
 * keeping the run; the clock tool's answer included.
 */
interface KeptRun {
  beats: Beat[];
  delayMs: number;
  keptAt: number;
}

export const RUN_TTL_MS = 10 * 60_000;
const runs = new Map<string, KeptRun>();

function keepRun(key: string, run: KeptRun): void {
  for (const [k, r] of runs) {
    if (run.keptAt - r.keptAt <= RUN_TTL_MS) break;
    runs.delete(k);
  }
  runs.set(key, run);
}

/** The beats after the first `n` chunks (events) of a reply. */
function skipChunks(beats: Beat[], n: number): Beat[] {
  let chunks = 0;
  const at = beats.findIndex((beat) => ('data' in beat || 'raw' in beat ? chunks++ === n : chunks >= n));
  return at < 0 ? [] : beats.slice(at);
}

/** Requests per connection: a client that reads replies to their end can send the next one on the same socket. */
const requestsOn = new WeakMap<object, number>();

function describeRequest(req: IncomingMessage, turn: AgentRequest): string {
  return [
    `message_id=${turn.messageId}`,
    `idempotency_key=${req.headers['idempotency-key'] ?? 'none'}`,
    `bearer=${/^Bearer \S+$/.test(req.headers.authorization ?? '') ? 'yes' : 'no'}`,
    `accept=${req.headers.accept ?? 'none'}`,
    `messages=${turn.messages.length}`,
    `history=${turn.messages.map((m) => m.id).join(',')}`,
    `request_id=${req.headers['x-request-id'] ?? 'none'}`,
    `trigger=${turn.trigger}`,
    `connection_requests=${requestsOn.get(req.socket) ?? 0}`,
    `id=${turn.sent.id}`,
    `conversation_id=${turn.sent.conversationId}`,
    `user_id=${turn.sent.userId}`,
    `content_type=${req.headers['content-type'] ?? 'none'}`,
    `resume_from=${req.headers['x-resume-from'] ?? 'none'}`,
    `replaces=${turn.sent.replaces}`,
    `traceparent=${req.headers.traceparent ?? 'none'}`,
  ].join(' ');
}

/**
 * The bridge body (SPEC §6). Only `messages` is required, as in the AI SDK's own chat request: the dev agent
 * reads what an AI SDK route reads, and takes our ids when they are there.
 */
function parseAgentRequest(raw: unknown, idempotencyKey: string | undefined): AgentRequest | string {
  if (!isRecord(raw)) return 'body must be a JSON object';
  for (const key of ['id', 'trigger', 'conversation_id', 'user_id', 'message_id'] as const) {
    if (raw[key] !== undefined && (typeof raw[key] !== 'string' || !raw[key]))
      return `${key} must be a non-empty string`;
  }
  const messages = raw.messages;
  if (!Array.isArray(messages) || messages.length === 0) return 'messages must be a non-empty array';
  if (!messages.every((m) => isRecord(m) && typeof m.role === 'string' && Array.isArray(m.parts))) {
    return 'messages must be UIMessages ({id, role, parts})';
  }
  const messageId = (raw.message_id as string | undefined) ?? idempotencyKey ?? `dev-${randomUUID()}`;
  const sent = (key: string) => (typeof raw[key] === 'string' ? raw[key] : 'none');
  return {
    messageId,
    trigger: sent('trigger'),
    messages: messages as UIMessage[],
    sent: {
      id: sent('id'),
      conversationId: sent('conversation_id'),
      userId: sent('user_id'),
      replaces: sent('messageId'),
    },
  };
}

function lastUserText(messages: UIMessage[]): string {
  const last = messages.findLast((m) => m.role === 'user');
  return last ? textOf(last) : '';
}

const textOf = (message: UIMessage): string => message.parts.map((p) => (p.type === 'text' ? p.text : '')).join('');

/** Whether the history holds the newest user message's text earlier on (the same prompt asked again). */
function askedBefore(messages: UIMessage[]): boolean {
  const text = lastUserText(messages);
  const last = messages.findLastIndex((m) => m.role === 'user');
  return messages.slice(0, last).some((m) => m.role === 'user' && textOf(m) === text);
}

export interface DevOptions {
  words?: number;
  delayMs?: number;
  failAfter?: number;
  cutAfter?: number;
  hangAfter?: number;
  calc?: string;
  echo?: boolean;
  badChunk?: boolean;
  garbage?: boolean;
  unknownChunk?: boolean;
  notSse?: boolean;
  noResume?: boolean;
  poison?: boolean;
  status?: number;
  inspect?: boolean;
  /** `approve=calc`: asks a person before using the calculator (a `tool-approval-request`, SPEC §9). */
  approve?: 'calc';
  once?: boolean;
}

const NUMERIC: Record<string, 'words' | 'delayMs' | 'failAfter' | 'cutAfter' | 'hangAfter' | 'status'> = {
  status: 'status',
  words: 'words',
  delay_ms: 'delayMs',
  fail_after: 'failAfter',
  cut_after: 'cutAfter',
  hang_after: 'hangAfter',
};

/**
 * Splits a `!dev` first line from the prompt. No `!dev` line: options null. A malformed option: an Error, so a
 * typo in a test shows up as a failed reply rather than as a silently different one.
 */
export function parseDevPrompt(text: string): { options: DevOptions | Error | null; prompt: string } {
  const newline = text.indexOf('\n');
  const first = (newline < 0 ? text : text.slice(0, newline)).replace(/\r$/, '');
  if (!/^!dev(\s|$)/.test(first)) return { options: null, prompt: text };
  const prompt = newline < 0 ? '' : text.slice(newline + 1);
  const options: DevOptions = {};
  for (const token of first.slice(4).split(/\s+/).filter(Boolean)) {
    const eq = token.indexOf('=');
    const key = eq < 0 ? token : token.slice(0, eq);
    const value = eq < 0 ? undefined : token.slice(eq + 1);
    const numeric = NUMERIC[key];
    if (numeric) {
      if (value === undefined || !/^\d+$/.test(value))
        return { options: new Error(`!dev ${key} needs a whole number`), prompt };
      options[numeric] = Number(value);
    } else if (key === 'calc' && value) options.calc = value;
    else if (key === 'approve' && value === 'calc') options.approve = 'calc';
    else if (key === 'echo' && value === undefined) options.echo = true;
    else if (key === 'bad_chunk' && value === undefined) options.badChunk = true;
    else if (key === 'inspect' && value === undefined) options.inspect = true;
    else if (key === 'once' && value === undefined) options.once = true;
    else if (key === 'garbage' && value === undefined) options.garbage = true;
    else if (key === 'unknown_chunk' && value === undefined) options.unknownChunk = true;
    else if (key === 'not_sse' && value === undefined) options.notSse = true;
    else if (key === 'no_resume' && value === undefined) options.noResume = true;
    else if (key === 'poison' && value === undefined) options.poison = true;
    else return { options: new Error(`unknown !dev option "${token}"`), prompt };
  }
  return { options, prompt };
}

/** One step of a scripted reply: a chunk to send, raw event data, `[DONE]`, a dropped connection, or silence. */
type Beat = { data: unknown } | { raw: string } | { done: true } | { cut: true } | { hang: true };

const chunk = (data: Record<string, unknown>): Beat => ({ data });
const DONE: Beat = { done: true };

/**
 * The answer a person gave to the approval this reply asked for, when the history ends with it: the AI SDK's
 * continuation, whose last message is the assistant message with the tool part in state `approval-responded`.
 */
export interface AnsweredApproval {
  toolCallId: string;
  approved: boolean;
  reason?: string | undefined;
}

export function approvalAnswered(messages: UIMessage[]): AnsweredApproval | null {
  const last = messages.at(-1);
  if (last?.role !== 'assistant') return null;
  for (const part of last.parts) {
    if (!part.type.startsWith('tool-') && part.type !== 'dynamic-tool') continue;
    const tool = part as { state?: string; toolCallId?: string; approval?: { approved?: boolean; reason?: string } };
    if (tool.state !== 'approval-responded' || typeof tool.toolCallId !== 'string') continue;
    return { toolCallId: tool.toolCallId, approved: tool.approval?.approved === true, reason: tool.approval?.reason };
  }
  return null;
}

/** The whole reply, decided up front from the options and prompt; only the clock reads anything else. */
export function planReply(
  messageId: string,
  options: DevOptions,
  prompt: string,
  now = new Date(),
  answered: AnsweredApproval | null = null,
): Beat[] {
  const beats: Beat[] = [
    chunk({ type: 'start', messageId }),
    chunk({ type: 'message-metadata', messageMetadata: DEV_METADATA }),
  ];
  const tool = toolCall(messageId, options, prompt, now);
  if (tool && options.approve === 'calc' && tool.name === 'calculator' && !answered) {
    // Asks and ends the turn: the tool runs only in the continuation, once a person has approved it.
    beats.push(
      chunk({ type: 'start-step' }),
      chunk({ type: 'tool-input-start', toolCallId: tool.id, toolName: tool.name }),
      chunk({ type: 'tool-input-available', toolCallId: tool.id, toolName: tool.name, input: tool.input }),
      chunk({ type: 'tool-approval-request', approvalId: `approval-${tool.id}`, toolCallId: tool.id }),
      chunk({ type: 'finish-step' }),
      chunk({ type: 'finish', finishReason: 'tool-calls' }),
      DONE,
    );
    return beats;
  }
  if (tool && answered && tool.id === answered.toolCallId) {
    const done = answered.approved
      ? 'output' in tool
        ? chunk({ type: 'tool-output-available', toolCallId: tool.id, output: tool.output })
        : chunk({ type: 'tool-output-error', toolCallId: tool.id, errorText: tool.errorText })
      : chunk({ type: 'tool-output-denied', toolCallId: tool.id });
    const answer = answered.approved
      ? tool.answer
      : `I did not use the calculator: ${answered.reason || 'the request was denied'}.`;
    return [...beats, done, ...textBeats(answer, options)];
  }
  if (tool) {
    beats.push(
      chunk({ type: 'start-step' }),
      chunk({ type: 'tool-input-start', toolCallId: tool.id, toolName: tool.name }),
      chunk({ type: 'tool-input-available', toolCallId: tool.id, toolName: tool.name, input: tool.input }),
      'output' in tool
        ? chunk({ type: 'tool-output-available', toolCallId: tool.id, output: tool.output })
        : chunk({ type: 'tool-output-error', toolCallId: tool.id, errorText: tool.errorText }),
      chunk({ type: 'finish-step' }),
    );
  }
  return [...beats, ...textBeats(tool ? tool.answer : answerText(options, prompt), options)];
}

/** A step of text, word by word, and the end of the reply (or how the options make it stop early). */
function textBeats(text: string, options: DevOptions): Beat[] {
  const id = 'text-1';
  const beats: Beat[] = [chunk({ type: 'start-step' }), chunk({ type: 'text-start', id })];
  if (options.badChunk) beats.push(chunk({ type: 'text-delta', id }));
  const stop = stopping(options);
  for (const [i, piece] of splitWords(text).entries()) {
    if (stop && i === stop.after) return [...beats, ...stop.beats];
    beats.push(chunk({ type: 'text-delta', id, delta: piece }));
  }
  if (stop) return [...beats, ...stop.beats];
  if (options.garbage) beats.push({ raw: 'this is not JSON' });
  if (options.unknownChunk) beats.push(chunk({ type: 'banana-split', id }));
  beats.push(
    chunk({ type: 'text-end', id }),
    chunk({ type: 'finish-step' }),
    chunk({ type: 'finish', finishReason: 'stop' }),
    DONE,
  );
  return beats;
}

function failure(messageId: string, errorText: string): Beat[] {
  return [chunk({ type: 'start', messageId }), chunk({ type: 'error', errorText }), DONE];
}

function stopping(options: DevOptions): { after: number; beats: Beat[] } | null {
  if (options.failAfter !== undefined) {
    const errorText = `dev agent: failing on purpose after ${options.failAfter} words (fail_after)`;
    return { after: options.failAfter, beats: [chunk({ type: 'error', errorText }), DONE] };
  }
  if (options.cutAfter !== undefined) return { after: options.cutAfter, beats: [{ cut: true }] };
  if (options.hangAfter !== undefined) return { after: options.hangAfter, beats: [{ hang: true }] };
  return null;
}

type ToolRun = { id: string; name: string; input: unknown; answer: string } & (
  | { output: unknown }
  | { errorText: string }
);

function toolCall(messageId: string, options: DevOptions, prompt: string, now: Date): ToolRun | null {
  if (options.calc !== undefined) {
    const expression = options.calc;
    const base = { id: `calc-${messageId}`, name: 'calculator', input: { expression } };
    try {
      const result = formatNumber(calculate(expression));
      return { ...base, output: { result }, answer: `The result of ${expression} is ${result}.` };
    } catch (err) {
      const errorText = err instanceof Error ? err.message : 'cannot compute';
      return { ...base, errorText, answer: `I could not compute ${expression}: ${errorText}.` };
    }
  }
  if (options.echo || options.poison || options.words !== undefined || !/\b(time|clock)\b/i.test(prompt)) return null;
  const iso = now.toISOString();
  return {
    id: `clock-${messageId}`,
    name: 'clock',
    input: {},
    output: { iso, timezone: 'UTC' },
    answer: `The dev agent's clock says it is ${iso} (UTC).`,
  };
}

/** What `!dev poison` answers: NUL and an unpaired surrogate, which JSON.stringify writes as escapes. */
export const POISON_TEXT = 'poison\u0000 text \ud800 here';

const VOCABULARY = 'the dev agent streams this deterministic answer one word at a time for tests'.split(' ');

function answerText(options: DevOptions, prompt: string): string {
  if (options.echo) return prompt || '(empty prompt)';
  if (options.poison) return POISON_TEXT;
  if (options.words !== undefined) {
    return Array.from({ length: options.words }, (_, i) => VOCABULARY[i % VOCABULARY.length]).join(' ');
  }
  const words = prompt.split(/\s+/).filter(Boolean);
  if (words.length === 0)
    return 'This is the dev agent, a deterministic stand-in with no model. Your message was empty.';
  const quoted = words.slice(0, 12).join(' ') + (words.length > 12 ? ' …' : '');
  return (
    `This is the dev agent, a deterministic stand-in with no model behind it. ` +
    `You wrote ${words.length} ${words.length === 1 ? 'word' : 'words'}: "${quoted}". ` +
    'Ask it for the time, or start a message with `!dev calc=6*7` to see a tool call.'
  );
}

/** Word-sized pieces ("word ") that concatenate back to exactly `text`. */
export function splitWords(text: string): string[] {
  const pieces = text.match(/\S+\s*/g) ?? [];
  const lead = /^\s*/.exec(text)?.[0] ?? '';
  if (pieces.length === 0) return text ? [text] : [];
  pieces[0] = lead + pieces[0];
  return pieces;
}

// ---------------------------------------------------------------------------------------------------------------
// Writing the stream

interface EventStream {
  send(data: unknown): Promise<void>;
  /** An event with this data as is, JSON or not. */
  sendRaw(data: string): Promise<void>;
  done(): Promise<void>;
  /** Drops the connection without ending the chunked body, like a crashed agent. */
  cut(): void;
  /** Resolves when the client has gone away. */
  gone: Promise<void>;
  /** Aborted when the client has gone away. */
  signal: AbortSignal;
}

function openStream(res: ServerResponse, resumable: boolean): EventStream {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    'x-vercel-ai-ui-message-stream': 'v1',
    'x-accel-buffering': 'no',
    ...(resumable ? { 'x-resumable': 'true' } : {}),
  });
  res.flushHeaders();
  const client = new AbortController();
  const gone = new Promise<void>((resolve) =>
    res.once('close', () => {
      client.abort();
      resolve();
    }),
  );
  const write = (text: string) =>
    new Promise<void>((resolve) => {
      if (client.signal.aborted) return resolve();
      res.write(text, () => resolve());
    });
  return {
    send: (data) => write(`data: ${JSON.stringify(data)}\n\n`),
    sendRaw: (data) => write(`data: ${data}\n\n`),
    done: async () => {
      await write('data: [DONE]\n\n');
      res.end();
    },
    cut: () => res.socket?.destroy(),
    gone,
    signal: client.signal,
  };
}

async function play(stream: EventStream, beats: Beat[], delayMs: number): Promise<void> {
  for (const beat of beats) {
    if (delayMs > 0) await sleep(delayMs);
    if (stream.signal.aborted) return;
    if ('data' in beat) await stream.send(beat.data);
    else if ('raw' in beat) await stream.sendRaw(beat.raw);
    else if ('done' in beat) return stream.done();
    else if ('cut' in beat) return stream.cut();
    else return stream.gone;
  }
}

async function forward(stream: EventStream, turn: AgentRequest, baseUrl: string): Promise<void> {
  const model = process.env.OPENAI_MODEL || 'gpt-4o-mini';
  await stream.send({ type: 'start', messageId: turn.messageId });
  await stream.send({ type: 'message-metadata', messageMetadata: { agent: 'dev', model, forwarded: true } });
  const target = {
    baseUrl,
    token: process.env.OPENAI_API_KEY ?? '',
    model,
    deadlines: { firstChunkMs: 60_000, idleMs: 60_000 },
  };
  try {
    for await (const c of streamChatCompletions(target, turn.messages, stream.signal)) await stream.send(c);
    await stream.send({ type: 'finish', finishReason: 'stop' });
  } catch (err) {
    if (stream.signal.aborted) return;
    await stream.send({ type: 'error', errorText: err instanceof Error ? err.message : 'the model failed' });
  }
  await stream.done();
}

// ---------------------------------------------------------------------------------------------------------------
// The fake OpenAI-compatible API

interface FakeMessage {
  role: string;
  content: string;
}

async function handleFakeCompletions(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readJson(req);
  if (!isRecord(body) || !Array.isArray(body.messages) || body.messages.length === 0) {
    return sendJson(res, 400, { error: { message: 'messages is required', type: 'invalid_request_error' } });
  }
  const messages = body.messages
    .filter(isRecord)
    .map((m): FakeMessage => ({ role: String(m.role), content: fakeContent(m.content) }));
  const model = typeof body.model === 'string' ? body.model : 'dev-openai';
  const reply = fakeCompletion(messages);
  const calls = (reply.calls ?? []).map((args, i) => ({
    id: `call_dev_${i + 1}`,
    type: 'function',
    function: { name: 'calculator', arguments: args },
  }));
  const usage = {
    prompt_tokens: messages.reduce((n, m) => n + splitWords(m.content).length, 0),
    completion_tokens: splitWords(reply.reasoning ?? '').length + splitWords(reply.content ?? '').length + calls.length,
    total_tokens: 0,
  };
  usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
  const finish_reason = calls.length ? 'tool_calls' : 'stop';
  const envelope = { id: 'chatcmpl-dev', created: 0, model };
  if (body.stream !== true) {
    const message = {
      role: 'assistant',
      content: reply.content ?? null,
      ...(calls.length ? { tool_calls: calls } : {}),
    };
    return sendJson(res, 200, {
      ...envelope,
      object: 'chat.completion',
      choices: [{ index: 0, message, finish_reason }],
      usage,
    });
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const send = (choice: Record<string, unknown> | null, extra: Record<string, unknown> = {}) =>
    res.write(
      `data: ${JSON.stringify({ ...envelope, object: 'chat.completion.chunk', choices: choice ? [{ index: 0, finish_reason: null, ...choice }] : [], ...extra })}\n\n`,
    );
  send({ delta: { role: 'assistant', content: '' } });
  for (const piece of splitWords(reply.reasoning ?? '')) send({ delta: { reasoning_content: piece } });
  for (const piece of splitWords(reply.content ?? '')) send({ delta: { content: piece } });
  if (reply.error) {
    // How OpenAI-compatible servers report a failure once the stream has begun: an error object, then the end.
    send(null, { error: { message: reply.error, type: 'server_error', code: null } });
    res.end();
    return;
  }
  for (const [index, call] of calls.entries()) {
    send({ delta: { tool_calls: [{ index, ...call, function: { name: 'calculator', arguments: '' } }] } });
  }
  // Arguments arrive in fragments that are not JSON on their own, parallel calls interleaved, as real servers do.
  for (let i = 0; i < 3; i++) {
    for (const [index, call] of calls.entries()) {
      const args = call.function.arguments;
      const cuts = [0, Math.floor(args.length / 3), Math.floor((2 * args.length) / 3), args.length];
      send({ delta: { tool_calls: [{ index, function: { arguments: args.slice(cuts[i], cuts[i + 1]) } }] } });
    }
  }
  send({ delta: {}, finish_reason });
  const options = isRecord(body.stream_options) ? body.stream_options : {};
  if (options.include_usage === true) send(null, { usage });
  res.end('data: [DONE]\n\n');
}

function fakeContent(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((p) => (isRecord(p) && typeof p.text === 'string' ? p.text : '')).join('');
}

/**
 * The fake model: `calc:` → a calculator call (`calc: 1+1; 2*3` → two calls at once), a tool result → its answer,
 * `think:` → reasoning then text, `fail:` → a few words, then an error in the middle of the stream.
 */
function fakeCompletion(messages: FakeMessage[]): {
  content?: string;
  reasoning?: string;
  calls?: string[];
  error?: string;
} {
  const last = messages.at(-1);
  if (last?.role === 'tool') return { content: `The calculator says ${last.content}.` };
  const text = messages.findLast((m) => m.role === 'user')?.content ?? '';
  if (text.startsWith('calc:')) {
    return {
      calls: text
        .slice(5)
        .split(';')
        .map((e) => JSON.stringify({ expression: e.trim() })),
    };
  }
  if (text.startsWith('fail:')) {
    return { content: 'Partial fake answer', error: `the fake model failed mid-stream: ${text.slice(5).trim()}` };
  }
  if (text.startsWith('think:')) {
    const rest = text.slice(6).trim();
    return { reasoning: `Thinking about ${rest}.`, content: `Fake model answer to: ${rest}` };
  }
  return { content: `Fake model answer to: ${text}` };
}

// ---------------------------------------------------------------------------------------------------------------
// The calculator: a recursive-descent parser over + - * / % ^ (or **), unary signs and parentheses. No eval.

export class CalcError extends Error {
  override name = 'CalcError';
}

const MAX_EXPRESSION = 200;
const MAX_DEPTH = 50;

export function calculate(expression: string): number {
  if (expression.length > MAX_EXPRESSION) throw new CalcError(`expression longer than ${MAX_EXPRESSION} characters`);
  const tokens = tokenize(expression);
  if (tokens.length === 0) throw new CalcError('empty expression');
  let pos = 0;
  let depth = 0;
  const peek = () => tokens[pos];
  const take = () => tokens[pos++];

  const sum = (): number => {
    let value = product();
    for (let op = peek(); op === '+' || op === '-'; op = peek()) {
      take();
      const right = product();
      value = op === '+' ? value + right : value - right;
    }
    return value;
  };
  const product = (): number => {
    let value = unary();
    for (let op = peek(); op === '*' || op === '/' || op === '%'; op = peek()) {
      take();
      const right = unary();
      if (op !== '*' && right === 0) throw new CalcError('division by zero');
      value = op === '*' ? value * right : op === '/' ? value / right : value % right;
    }
    return value;
  };
  const unary = (): number => {
    const op = peek();
    if (op === '+' || op === '-') {
      take();
      return nested(() => (op === '-' ? -unary() : unary()));
    }
    return power();
  };
  // Right-associative and binding tighter than unary minus: -2^2 = -4, 2^3^2 = 512.
  const power = (): number => {
    const base = atom();
    if (peek() !== '^') return base;
    take();
    return base ** nested(unary);
  };
  const atom = (): number => {
    const token = take();
    if (typeof token === 'number') return token;
    if (token !== '(') throw new CalcError(token === undefined ? 'unexpected end' : `unexpected "${token}"`);
    const value = nested(sum);
    if (take() !== ')') throw new CalcError('missing ")"');
    return value;
  };
  const nested = (parse: () => number): number => {
    if (++depth > MAX_DEPTH) throw new CalcError('expression nested too deeply');
    const value = parse();
    depth--;
    return value;
  };

  const value = sum();
  if (pos < tokens.length) throw new CalcError(`unexpected "${tokens[pos]}"`);
  if (!Number.isFinite(value)) throw new CalcError('the result is not a finite number');
  return value;
}

type Token = number | '+' | '-' | '*' | '/' | '%' | '^' | '(' | ')';

function tokenize(expression: string): Token[] {
  const tokens: Token[] = [];
  const pattern = /\s*(?:(\d+(?:\.\d*)?(?:e[+-]?\d+)?|\.\d+(?:e[+-]?\d+)?)|(\*\*|[-+*/%^()]))/iy;
  let at = 0;
  while (at < expression.length) {
    if (/^\s*$/.test(expression.slice(at))) break;
    pattern.lastIndex = at;
    const m = pattern.exec(expression);
    if (!m) throw new CalcError(`unexpected "${expression.slice(at).trim()[0]}"`);
    at = pattern.lastIndex;
    if (m[1] !== undefined) tokens.push(Number(m[1]));
    else tokens.push(m[2] === '**' ? '^' : (m[2] as Token));
  }
  return tokens;
}

/** 0.1+0.2 reads as 0.3: twelve significant digits are plenty for a dev calculator. */
export function formatNumber(value: number): string {
  return String(Number(value.toPrecision(12)));
}

// ---------------------------------------------------------------------------------------------------------------

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of req) {
    const buf = part as Buffer;
    size += buf.length;
    if (size > MAX_BODY_BYTES) return undefined;
    parts.push(buf);
  }
  try {
    return JSON.parse(Buffer.concat(parts).toString('utf8'));
  } catch {
    return undefined;
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' && value ? value : undefined;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const agent = await startDevAgent({ port: Number(process.env.PORT ?? 8788), host: process.env.HOST });
  console.log(`dev AgentCore listening: ${agent.url} (fake OpenAI API at ${agent.base}/openai/v1)`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void agent.close().then(() => process.exit(0)));
  }
}
