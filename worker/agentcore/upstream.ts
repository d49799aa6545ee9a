import { createParser, type EventSourceParser } from 'eventsource-parser';
import { z } from 'zod';
import { parseStorableJson } from '../wire';
import { AgentError } from './agent-error';

export interface EventRequest {
  url: string;
  headers: Record<string, string>;
  /** The JSON request body, already serialized. */
  body: string;
  /** Sees the headers of a 2xx answer before its events are read. */
  onResponse?: (headers: Headers) => void;
  /** The answer's bytes may add up to this; an event that takes them over ends it with `reply_too_large`. */
  maxBytes?: number;
}

/** One event: its JSON value checked against the schema, or why it failed. */
type Parsed<T> = { success: true; value: T } | { success: false; error: Error; data: string };

export interface Deadlines {
  /** From sending the request to the first event. */
  firstChunkMs: number;
  /** Between two events. */
  idleMs: number;
}

type Read = (reader: ReadableStreamDefaultReader<Uint8Array>) => Promise<ReadableStreamReadResult<Uint8Array>>;

/**
 * The SSE events of a byte stream as JSON values checked against `schema`. Events split across reads, CRLF,
 * multi-line `data:` and comments are eventsource-parser's job; `[DONE]` is dropped. It feeds the parser
 * straight from the reader: a chain of TransformStreams costs every chunk a hop per stage on the relay path.
 */
export class EventReader<T> {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  private readonly parser: EventSourceParser;
  private readonly pending: string[] = [];
  /** Bytes of the body read so far. */
  bytesRead = 0;

  constructor(
    body: ReadableStream<Uint8Array>,
    private readonly schema: z.ZodType<T>,
  ) {
    this.reader = body.getReader();
    this.parser = createParser({
      onEvent: (event) => {
        if (event.data !== '[DONE]') this.pending.push(event.data);
      },
    });
  }

  /** The next event, reading as much as it takes through `read` (which may add deadlines); null at the end. */
  async next(read: Read = (r) => r.read()): Promise<Parsed<T> | null> {
    for (;;) {
      const data = this.pending.shift();
      if (data !== undefined) return this.parse(data);
      const result = await read(this.reader);
      // An event cut off before its blank line is not an event: it ends with the stream.
      if (result.done) return null;
      this.bytesRead += result.value.byteLength;
      this.parser.feed(this.decoder.decode(result.value, { stream: true }));
    }
  }

  cancel(): void {
    this.reader.cancel().catch(() => {});
  }

  /** Synchronous on purpose: an asynchronous check costs every chunk a few turns on the relay path. */
  private parse(data: string): Parsed<T> {
    let value: unknown;
    try {
      value = parseStorableJson(data);
    } catch (error) {
      return { success: false, error: error instanceof Error ? error : new Error('invalid JSON'), data };
    }
    const checked = this.schema.safeParse(value);
    return checked.success ? { success: true, value: checked.data } : { success: false, error: checked.error, data };
  }
}

/** All events of a byte stream, with no deadlines. */
export async function* parseEvents<T>(body: ReadableStream<Uint8Array>, schema: z.ZodType<T>) {
  const events = new EventReader(body, schema);
  for (let e = await events.next(); e; e = await events.next()) yield e;
}

/**
 * POSTs `request` and yields its SSE events, each validated against `schema`, until the agent closes the stream.
 * Timeouts, a dropped connection and a chunk that fails the schema end it with an AgentError; an abort through
 * `signal` ends it with the signal's reason. Leaving early (return/throw) cancels the upstream fetch, unless the
 * event `isLast` marks was seen: then the rest of the body is read in the background and the connection kept.
 */
export async function* streamEvents<T>(
  request: EventRequest,
  schema: z.ZodType<T>,
  deadlines: Deadlines,
  signal: AbortSignal,
  isLast: (event: T) => boolean = () => false,
): AsyncGenerator<T, void, undefined> {
  signal.throwIfAborted();
  const upstream = new AbortController();
  const forwardAbort = () => upstream.abort(signal.reason);
  signal.addEventListener('abort', forwardAbort, { once: true });
  let first = true;
  // One timer for the whole stream, not one per read: a read is on the path of every chunk.
  const watchdog = new Watchdog(() => {
    const failure = first
      ? new AgentError('agent_timeout', `the agent sent nothing within ${deadlines.firstChunkMs} ms`)
      : new AgentError('agent_timeout', `the agent went silent for ${deadlines.idleMs} ms`);
    upstream.abort(failure);
    return failure;
  });
  watchdog.arm(Date.now() + deadlines.firstChunkMs);
  let events: EventReader<T> | undefined;
  let drained = false;
  let ended = false;
  try {
    const res = await fetch(request.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...request.headers },
      body: request.body,
      signal: upstream.signal,
    }).catch((err: unknown) => {
      throw watchdog.failure ?? settled(err, signal, () => unreachable(err));
    });
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      throw refusal(res.status);
    }
    // A 200 that is not an event stream is an agent that did not stream (wrong URL or protocol), not a cut one.
    const contentType = res.headers.get('content-type') ?? '';
    if (!/^text\/event-stream\b/i.test(contentType)) {
      await res.body?.cancel().catch(() => {});
      throw new AgentError(
        'agent_bad_stream',
        `the agent answered ${contentType.split(';')[0] || 'with no content type'} instead of an event stream (text/event-stream)`,
        { status: res.status },
      );
    }
    request.onResponse?.(res.headers);
    if (!res.body) throw new AgentError('agent_cut', 'the agent answered with an empty body');
    const reader = new EventReader(res.body, schema);
    events = reader;
    const read: Read = (bytes) =>
      bytes.read().catch((err: unknown) => {
        throw watchdog.failure ?? settled(err, signal, () => lost(err));
      });
    for (;;) {
      const parsed = await reader.next(read);
      if (!parsed) {
        drained = true;
        return;
      }
      if (first) first = false;
      watchdog.arm(Date.now() + deadlines.idleMs);
      if (!parsed.success) {
        throw new AgentError('agent_bad_stream', `the agent broke the stream protocol: ${badEvent(parsed)}`, {
          cause: parsed.error,
        });
      }
      // Checked before the event is passed on: what was passed on fits the bound. A reply of millions of words
      // otherwise ran for a minute and then could not be saved at all (SQLITE_TOOBIG).
      if (request.maxBytes !== undefined && reader.bytesRead > request.maxBytes) {
        throw new AgentError('reply_too_large', `the reply is longer than ${request.maxBytes} bytes`);
      }
      ended = isLast(parsed.value);
      yield parsed.value;
    }
  } finally {
    watchdog.stop();
    signal.removeEventListener('abort', forwardAbort);
    if (ended && events && !signal.aborted) {
      // The reply is over but the body may still hold a `[DONE]`: read to its end (within the idle timeout), so
      // the connection carries the next request instead of being torn down (a new TLS handshake per reply).
      void drain(events, deadlines.idleMs);
    } else if (!drained) {
      upstream.abort();
      events?.cancel();
    }
  }
}

const unreachable = (cause: unknown) => new AgentError('agent_unreachable', 'the agent is unreachable', { cause });

/** What is wrong with an event, in one short phrase for the reply's error and the log. */
export function badEvent(parsed: { error: Error; data: string }): string {
  if (!(parsed.error instanceof z.ZodError))
    return `an event is not JSON (${JSON.stringify(parsed.data.slice(0, 40))})`;
  const value: unknown = JSON.parse(parsed.data);
  const type = typeof value === 'object' && value !== null && 'type' in value ? value.type : undefined;
  let issue: z.core.$ZodIssue | undefined = parsed.error.issues[0];
  // A union reports each arm: the chunk types by name, then data-*; the arm the type points to says what is wrong.
  const arm = typeof type === 'string' && type.startsWith('data-') ? -1 : 0;
  while (issue?.code === 'invalid_union') {
    const first: z.core.$ZodIssue | undefined = issue.errors.at(arm)?.[0];
    if (!first)
      return typeof type === 'string' ? `unknown chunk type ${JSON.stringify(type)}` : 'a chunk without a type';
    issue = first;
  }
  const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
  return `a ${JSON.stringify(type)} chunk is invalid (${where}${issue?.message ?? 'bad shape'})`;
}

function refusal(status: number): AgentError {
  if (status === 401 || status === 403) {
    return new AgentError('agent_unauthorized', `the agent refused our token (HTTP ${status}): check AGENTCORE_TOKEN`, {
      status,
    });
  }
  return new AgentError('agent_http', `the agent answered HTTP ${status}`, { status });
}
const lost = (cause: unknown) => new AgentError('agent_cut', 'the connection to the agent was lost', { cause });

/**
 * How late the watchdog's own timer may run before the lateness is taken for the isolate's backlog rather than the
 * agent's silence. Timers and reads wait in the same event queue: when the room cannot keep up (a local workerd
 * relaying more chunks a second than a core does, faults/experiments/load.ts), the timer runs seconds late and the
 * agent's bytes, arrived long before, wait unread behind the same backlog.
 */
const BACKLOG_TOLERANCE_MS = 1_000;

/**
 * A deadline that can be pushed back cheaply: pushing it later costs no timer (the one set checks again when it
 * fires); only an earlier deadline sets a new one. When it passes, `expire` runs once and its error is kept. If its
 * timer ran late (BACKLOG_TOLERANCE_MS), the deadline is first pushed back by that lateness, up to the deadline's
 * own span once: what was waiting in the queue is read before anyone is blamed, and a silent agent is still caught
 * within twice its deadline however busy the isolate is.
 */
class Watchdog {
  failure: AgentError | null = null;
  private due = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private firesAt = 0;
  /** How much more the current deadline may be pushed back for the isolate's lateness. */
  private grace = 0;

  constructor(private readonly expire: () => AgentError) {}

  arm(due: number): void {
    this.due = due;
    this.grace = Math.max(0, due - Date.now());
    if (this.timer === null || due < this.firesAt) this.schedule();
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    this.stop();
    this.firesAt = this.due;
    this.timer = setTimeout(() => this.check(), Math.max(0, this.due - Date.now()));
  }

  private check(): void {
    this.timer = null;
    const now = Date.now();
    const late = now - this.firesAt;
    if (now >= this.due && late > BACKLOG_TOLERANCE_MS && this.grace > 0) {
      const extra = Math.min(late, this.grace);
      this.grace -= extra;
      this.due = now + extra;
    }
    if (now < this.due) {
      this.schedule();
      return;
    }
    this.failure ??= this.expire();
  }
}

/** Reads what is left of a finished reply's body, giving up (and cancelling it) after `ms`. */
async function drain<T>(events: EventReader<T>, ms: number): Promise<void> {
  // Cancelling the body ends the pending read, and with it the loop.
  const watchdog = new Watchdog(() => {
    events.cancel();
    return new AgentError('agent_timeout', 'the rest of a finished reply did not come in time');
  });
  watchdog.arm(Date.now() + ms);
  try {
    while (await events.next()) {
      // Events after the end of the reply are not the reply's: dropped.
    }
  } catch {
    events.cancel();
  } finally {
    watchdog.stop();
  }
}

/** An abort wins over whatever the aborted fetch threw; our own AgentErrors pass; anything else is classified. */
function settled(err: unknown, signal: AbortSignal, classify: () => AgentError): unknown {
  if (signal.aborted) return signal.reason;
  if (err instanceof AgentError) return err;
  return classify();
}
