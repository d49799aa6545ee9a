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

/** Streams the reply in flight from `from`, then live, ending with `[DONE]`. */
export function liveResponse(stream: ReplyStream, from: number): Response {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  const key = {};
  const drop = () => stream.unsubscribe(key);
  stream.subscribe(
    key,
    {
      next: from,
      deliver: (index: number, entry: ReplyChunk) => {
        writer.write(event(stream.messageId, index, entry.json)).catch(drop);
      },
      end: () => {
        writer
          .write(DONE)
          .then(() => writer.close())
          .catch(() => undefined);
      },
    },
    from,
  );
  return new Response(readable, { headers: SSE_HEADERS });
}

/** Streams a reply that has already ended, rebuilt from its stored parts. */
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
