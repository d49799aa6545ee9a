import { type FlexibleSchema, parseJsonEventStream } from 'ai';
import { AgentError } from './agent-error';

export interface EventRequest {
  url: string;
  headers: Record<string, string>;
  body: unknown;
}

/** One event as `parseJsonEventStream` reports it. */
type Parsed<T> = { success: true; value: T } | { success: false; error: Error };

export interface Deadlines {
  /** From sending the request to the first event. */
  firstChunkMs: number;
  /** Between two events. */
  idleMs: number;
}

/**
 * The SSE events of a byte stream as JSON values checked against `schema`. Events split across reads, CRLF,
 * multi-line `data:` and comments are handled by eventsource-parser (through `ai`); `[DONE]` is dropped.
 */
export function parseEvents<T>(body: ReadableStream<Uint8Array>, schema: FlexibleSchema<T>) {
  return parseJsonEventStream({ stream: body, schema });
}

/**
 * POSTs `request` and yields its SSE events, each validated against `schema`, until the agent closes the stream.
 * Timeouts, a dropped connection and a chunk that fails the schema end it with an AgentError; an abort through
 * `signal` ends it with the signal's reason. Leaving early (return/throw) cancels the upstream fetch.
 */
export async function* streamEvents<T>(
  request: EventRequest,
  schema: FlexibleSchema<T>,
  deadlines: Deadlines,
  signal: AbortSignal,
): AsyncGenerator<T, void, undefined> {
  signal.throwIfAborted();
  const upstream = new AbortController();
  const forwardAbort = () => upstream.abort(signal.reason);
  signal.addEventListener('abort', forwardAbort, { once: true });
  const firstChunkBy = Date.now() + deadlines.firstChunkMs;
  let reader: ReadableStreamDefaultReader<Parsed<T>> | undefined;
  let drained = false;
  try {
    const res = await within(
      fetch(request.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...request.headers },
        body: JSON.stringify(request.body),
        signal: upstream.signal,
      }),
      deadlines.firstChunkMs,
      signal,
      () => new AgentError('agent_timeout', `the agent did not answer within ${deadlines.firstChunkMs} ms`),
    ).catch((err: unknown) => {
      throw settled(err, signal, () => new AgentError('agent_http', 'the agent is unreachable', { cause: err }));
    });
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      throw new AgentError('agent_http', `the agent answered HTTP ${res.status}`, { status: res.status });
    }
    // A 200 with a JSON body is an agent that did not stream (wrong URL or protocol), not a cut-off stream.
    if (res.headers.get('content-type')?.startsWith('application/json')) {
      await res.body?.cancel().catch(() => {});
      throw new AgentError('agent_http', 'the agent answered JSON instead of an event stream', { status: res.status });
    }
    if (!res.body) throw new AgentError('agent_cut', 'the agent answered with an empty body');
    const events: ReadableStreamDefaultReader<Parsed<T>> = parseEvents(res.body, schema).getReader();
    reader = events;
    let first = true;
    for (;;) {
      const ms = first ? Math.max(0, firstChunkBy - Date.now()) : deadlines.idleMs;
      const next = await readOnce(
        events,
        ms,
        first ? `the agent sent nothing within ${deadlines.firstChunkMs} ms` : `the agent went silent for ${ms} ms`,
        signal,
      );
      if (next.done) {
        drained = true;
        return;
      }
      first = false;
      const parsed = next.value;
      if (!parsed.success) {
        throw new AgentError('agent_invalid_chunk', 'the agent sent a chunk that breaks the stream protocol', {
          cause: parsed.error,
        });
      }
      yield parsed.value;
    }
  } finally {
    signal.removeEventListener('abort', forwardAbort);
    if (!drained) {
      upstream.abort();
      reader?.cancel().catch(() => {});
    }
  }
}

async function readOnce<T>(
  events: ReadableStreamDefaultReader<Parsed<T>>,
  ms: number,
  timeoutMessage: string,
  signal: AbortSignal,
) {
  return within(events.read(), ms, signal, () => new AgentError('agent_timeout', timeoutMessage)).catch(
    (err: unknown) => {
      throw settled(
        err,
        signal,
        () => new AgentError('agent_cut', 'the connection to the agent was lost', { cause: err }),
      );
    },
  );
}

/** An abort wins over whatever the aborted fetch threw; our own AgentErrors pass; anything else is classified. */
function settled(err: unknown, signal: AbortSignal, classify: () => AgentError): unknown {
  if (signal.aborted) return signal.reason;
  if (err instanceof AgentError) return err;
  return classify();
}

/** Settles with `work`, or rejects on timeout or abort, whichever comes first. */
function within<T>(work: Promise<T>, ms: number, signal: AbortSignal, onTimeout: () => AgentError): Promise<T> {
  // The loser of the race must not surface later as an unhandled rejection.
  work.catch(() => {});
  return new Promise<T>((resolve, reject) => {
    const finish = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    };
    const onAbort = () => {
      finish();
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      finish();
      reject(onTimeout());
    }, ms);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        finish();
        resolve(v);
      },
      (e: unknown) => {
        finish();
        reject(e);
      },
    );
  });
}
