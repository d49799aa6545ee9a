/** Reads an SSE reply stream (SPEC §5): `id: <message_id>:<index>` + `data: <chunk>`, ended by `data: [DONE]`. */
import { EventSourceParserStream } from 'eventsource-parser/stream';
import { Chunk } from '../../../worker/wire';

export type ReplyEvent = { done: true } | { done: false; id: string; messageId: string; index: number; chunk: Chunk };

function parseEvent(id: string | undefined, data: string): ReplyEvent | null {
  if (data === '[DONE]') return { done: true };
  if (!id) return null;
  const cut = id.lastIndexOf(':');
  const index = Number(id.slice(cut + 1));
  if (cut <= 0 || !Number.isInteger(index)) return null;
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return null;
  }
  const chunk = Chunk.safeParse(json);
  return chunk.success ? { done: false, id, messageId: id.slice(0, cut), index, chunk: chunk.data } : null;
}

/** Yields the stream's events; ends without `done` when the connection drops before `[DONE]`. */
export async function* readReplyEvents(res: Response): AsyncGenerator<ReplyEvent> {
  if (!res.body) return;
  const events = res.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
  const reader = events.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      const event = parseEvent(value.id, value.data);
      if (!event) continue;
      yield event;
      if (event.done) return;
    }
  } finally {
    reader.releaseLock();
  }
}
