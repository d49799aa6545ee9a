/**
 * What every test suite shares, in workerd (worker/**), in Node (dev/**, e2e/) and in the benchmarks: a user id
 * no other test uses, an SSE reader, and the control server that starts and stops the test Postgres.
 * Web-standard APIs only, so the same code runs in both runtimes.
 */
import { type EventSourceMessage, EventSourceParserStream } from 'eventsource-parser/stream';

/** Rate limits high enough that only the test meant to hit them does (settings of a stack a test starts). */
export const GENEROUS_LIMITS = {
  RATE_LIMIT_USER_PER_MINUTE: '100000',
  RATE_LIMIT_USER_BURST: '100000',
  RATE_LIMIT_CONVERSATION_PER_MINUTE: '100000',
  RATE_LIMIT_CONVERSATION_BURST: '100000',
  RATE_LIMIT_WRITES_PER_MINUTE: '100000',
  RATE_LIMIT_WRITES_BURST: '100000',
  RATE_LIMIT_SHARED_PER_MINUTE: '100000',
  RATE_LIMIT_SHARED_BURST: '100000',
};

/** A user of one test: nothing another test (or another run against the same database) wrote is theirs. */
export function uniqueUser(tag = 'user'): string {
  return `${tag}-${crypto.randomUUID().slice(0, 13)}`;
}

export interface SseEvent {
  /** The `id:` field, null when the event has none (`[DONE]`). */
  id: string | null;
  data: string;
}

/**
 * A response's SSE events as they arrive. Network reads do not line up with events; eventsource-parser
 * reassembles them (a partial line is kept until its end arrives).
 */
export async function* sseEvents(res: Response): AsyncGenerator<SseEvent> {
  if (!res.body) return;
  const events = res.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
  try {
    for (;;) {
      const { value, done } = await events.read();
      if (done) return;
      yield toEvent(value);
    }
  } finally {
    // Leaving early (the first n events) stops reading the rest of the stream.
    await events.cancel().catch(() => undefined);
  }
}

const toEvent = (e: EventSourceMessage): SseEvent => ({ id: e.id ?? null, data: e.data });

/** Every event until the stream ends; `onEvent` sees each one as it arrives. */
export async function allEvents(res: Response, onEvent?: (event: SseEvent) => void): Promise<SseEvent[]> {
  const out: SseEvent[] = [];
  for await (const e of sseEvents(res)) {
    out.push(e);
    onEvent?.(e);
  }
  return out;
}

/** The first `n` events' data, leaving the rest of the stream unread. */
export async function firstEvents(res: Response, n: number): Promise<string[]> {
  const seen: string[] = [];
  for await (const e of sseEvents(res)) {
    seen.push(e.data);
    if (seen.length >= n) break;
  }
  return seen;
}

/**
 * Asks the control server (dev/control-server.ts) to act on the test Postgres: `/postgres/stop`, `/start`,
 * `/pause`, `/resume`, `/databases?migrate=1` … Throws unless it answers 200; returns its JSON answer.
 */
export async function control<T = unknown>(baseUrl: string, path: string): Promise<T> {
  const res = await fetch(`${baseUrl}${path}`, { method: 'POST' });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`control ${path}: HTTP ${res.status} ${text}`);
  return JSON.parse(text) as T;
}
