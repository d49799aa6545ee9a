/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): a caller's `traceparent` is continued (same trace id, a
 * new span id for this hop), and a request without a valid one starts a trace. The header goes on to the agent, so
 * an operator can follow one reply across the caller's, our and the agent's logs by trace_id.
 */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZEROS = /^0+$/;

export type Trace = { traceId: string; traceparent: string };

export function continueTrace(incoming: string | undefined): Trace {
  const match = incoming ? TRACEPARENT.exec(incoming.trim().toLowerCase()) : null;
  const [traceId, parentId, flags] = match ? match.slice(1) : [];
  const valid = traceId && parentId && flags && !ZEROS.test(traceId) && !ZEROS.test(parentId);
  const id = valid ? traceId : randomHex(16);
  return { traceId: id, traceparent: `00-${id}-${randomHex(8)}-${valid ? flags : '01'}` };
}

function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** The trace id a traceparent carries, for log lines. */
export function traceIdOf(traceparent: string | undefined): string | undefined {
  return traceparent ? TRACEPARENT.exec(traceparent)?.[1] : undefined;
}
