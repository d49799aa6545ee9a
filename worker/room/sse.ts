import type { Config } from '../config';
import { ApiError } from '../errors';
import type { Chunk, Message } from '../wire';
import type { ReplyChunk, ReplyStream } from './reply-stream';

/** SPEC §5: the AI SDK UI message stream v1 over SSE. */
export const SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache',
  'x-vercel-ai-ui-message-stream': 'v1',
  'x-accel-buffering': 'no',
} as const;

const encoder = new TextEncoder();

const event = (messageId: string, index: number, json: string) =>
  encoder.encode(`id: ${messageId}:${index}\ndata: ${json}\n\n`);
const DONE = encoder.encode('data: [DONE]\n\n');

/** Parses `Last-Event-ID` (`<message_id>:<index>`) into the index to resume from for this reply. */
export function resumeIndex(lastEventId: string | null, messageId: string): number {
  if (!lastEventId) return 0;
  const at = lastEventId.lastIndexOf(':');
  if (at < 0 || lastEventId.slice(0, at) !== messageId) return 0;
  const index = Number(lastEventId.slice(at + 1));
  return Number.isInteger(index) && index >= 0 ? index + 1 : 0;
}

/** What bounds the live readers of a conversation (SPEC §3). */
export type ReaderLimits = Pick<Config, 'MAX_SSE_READERS_PER_CONVERSATION' | 'SSE_MAX_LAG_BYTES'>;

/** How many live readers each reply in flight has: a conversation streams one reply at a time. */
const readers = new WeakMap<ReplyStream, number>();

/** How much of a reply's earlier chunks one read of a late reader is handed at most. */
const REPLAY_SLICE_BYTES = 64 * 1024;

/**
 * Streams the reply in flight from `from`, then live, ending with `[DONE]`. Its earlier chunks are handed over as the
 * reader reads them (the reply keeps them anyway); live ones are queued, and a reader that leaves more than
 * `SSE_MAX_LAG_BYTES` of them unread is cut off (its body errors; it resumes with Last-Event-ID). Before, every
 * chunk was queued for a reader that had stopped reading, for as long as the reply ran.
 */
export function liveResponse(stream: ReplyStream, from: number, limits: ReaderLimits): Response {
  const count = readers.get(stream) ?? 0;
  if (count >= limits.MAX_SSE_READERS_PER_CONVERSATION) {
    throw new ApiError('too_many_connections', 'too many live readers of this conversation', { retryAfter: 5 });
  }
  readers.set(stream, count + 1);
  const key = {};
  let next = from;
  let following = false;
  let open = true;
  const leave = () => {
    if (!open) return false;
    open = false;
    readers.set(stream, (readers.get(stream) ?? 1) - 1);
    return true;
  };
  const live = (out: ReadableStreamDefaultController<Uint8Array>) => ({
    next,
    deliver: (index: number, entry: ReplyChunk) => {
      if (!open) return;
      out.enqueue(event(stream.messageId, index, entry.json));
      if (-(out.desiredSize ?? 0) <= limits.SSE_MAX_LAG_BYTES) return;
      leave();
      out.error(new Error('the reader fell too far behind'));
      stream.unsubscribe(key);
    },
    end: () => {
      if (!leave()) return;
      out.enqueue(DONE);
      out.close();
    },
  });
  const body = new ReadableStream<Uint8Array>(
    {
      pull: (out) => {
        if (following || !open) return;
        let bytes = 0;
        while (next < stream.size && bytes < REPLAY_SLICE_BYTES) {
          const entry = stream.chunks[next] as ReplyChunk;
          const encoded = event(stream.messageId, next, entry.json);
          out.enqueue(encoded);
          bytes += encoded.byteLength;
          next++;
        }
        if (next < stream.size) return;
        // Caught up: from here the reply hands it each chunk as it comes (or ends it at once if it has ended).
        following = true;
        stream.subscribe(key, live(out), next);
      },
      cancel: () => {
        if (leave()) stream.unsubscribe(key);
      },
    },
    // No high-water mark: whatever sits in the queue is unread, and -desiredSize says how much.
    new ByteLengthQueuingStrategy({ highWaterMark: 0 }),
  );
  return new Response(body, { headers: SSE_HEADERS });
}

/** Streams a reply that has already ended, rebuilt from its stored parts. */
/** A turn's reply over SSE: live while it is in flight, else replayed whole from its stored form. */
export function turnResponse(
  current: ReplyStream | null,
  reply: Message,
  userMessageId: string,
  limits: ReaderLimits,
  from = 0,
): Response {
  if (current?.messageId === reply.id) return liveResponse(current, from, limits);
  return replayResponse(reply, userMessageId);
}

/** SSE resume (SPEC §5): the reply in flight from after `lastEventId`, or 204 when none is. */
export function attachResponse(live: ReplyStream | null, lastEventId: string | null, limits: ReaderLimits): Response {
  if (!live) return new Response(null, { status: 204, headers: SSE_HEADERS });
  return liveResponse(live, resumeIndex(lastEventId, live.messageId), limits);
}

export function replayResponse(reply: Message, userMessageId: string, from = 0): Response {
  const chunks = chunksOf(reply, userMessageId);
  const body = chunks
    .slice(from)
    .map((c, i) => `id: ${reply.id}:${from + i}\ndata: ${JSON.stringify(c)}\n\n`)
    .join('');
  return new Response(`${body}data: [DONE]\n\n`, { headers: SSE_HEADERS });
}

export function startChunk(messageId: string, conversationId: string, userMessageId: string): Chunk {
  return {
    type: 'start',
    messageId,
    messageMetadata: { conversation_id: conversationId, user_message_id: userMessageId },
  };
}

/** The chunks that would have produced a stored message: for replays after the live chunks are gone. */
export function chunksOf(reply: Message, userMessageId: string): Chunk[] {
  const out: Chunk[] = [startChunk(reply.id, reply.conversation_id, userMessageId)];
  reply.parts.forEach((part, n) => {
    const id = `${reply.id}-${n}`;
    const p = part as Record<string, unknown>;
    if (part.type === 'text' || part.type === 'reasoning') {
      out.push({ type: `${part.type}-start`, id });
      out.push({ type: `${part.type}-delta`, id, delta: String(p.text ?? '') });
      out.push({ type: `${part.type}-end`, id });
    } else if (part.type === 'step-start') {
      out.push({ type: 'start-step' });
    } else if (part.type.startsWith('tool-') || part.type === 'dynamic-tool') {
      const toolName = part.type === 'dynamic-tool' ? String(p.toolName) : part.type.slice('tool-'.length);
      const toolCallId = String(p.toolCallId);
      const dynamic = part.type === 'dynamic-tool' ? { dynamic: true } : {};
      out.push({ type: 'tool-input-available', toolCallId, toolName, input: p.input ?? {}, ...dynamic });
      const approval = p.approval as { id?: unknown } | undefined;
      if (typeof approval?.id === 'string')
        out.push({ type: 'tool-approval-request', approvalId: approval.id, toolCallId });
      if (p.state === 'output-denied') out.push({ type: 'tool-output-denied', toolCallId });
      if (p.state === 'output-available') out.push({ type: 'tool-output-available', toolCallId, output: p.output });
      if (p.state === 'output-error')
        out.push({ type: 'tool-output-error', toolCallId, errorText: String(p.errorText) });
    } else if (part.type.startsWith('data-')) {
      out.push({ type: part.type, id: p.id, data: p.data });
    } else if (part.type === 'source-url' || part.type === 'source-document' || part.type === 'file') {
      out.push({ ...p, type: part.type });
    }
  });
  out.push(terminalChunk(reply));
  return out;
}

function terminalChunk(reply: Message): Chunk {
  if (reply.status === 'stopped') return { type: 'abort' };
  if (reply.status === 'error') {
    const error = reply.metadata.error as { message?: string } | undefined;
    return { type: 'error', errorText: error?.message ?? 'the reply failed' };
  }
  return { type: 'finish' };
}
