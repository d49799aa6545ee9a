import { readUIMessageStream, type UIMessage, type UIMessageChunk } from 'ai';
import type { Chunk, MessagePart } from '../wire';

/** Where a reply's chunks go: a WebSocket or an SSE response. `next` is the first index it still lacks. */
export interface Subscriber {
  next: number;
  deliver(index: number, chunk: ReplyChunk): void;
  end(): void;
}

/** A chunk as it is kept in flight: the object and its JSON, encoded once for every socket and stream. */
export interface ReplyChunk {
  chunk: Chunk;
  json: string;
  /** The WebSocket frame, built on first use and shared by every socket. */
  frame?: string;
}

/**
 * The reply in flight: its chunks in order and who follows it. Delivery is synchronous, so a subscriber
 * added between two chunks sees neither twice nor a gap. The message is assembled (by the `ai` package)
 * only when asked: per chunk, that work would sit on the relay path (it clones the message every time).
 */
export class ReplyStream {
  readonly chunks: ReplyChunk[] = [];
  readonly abort = new AbortController();
  private readonly subscribers = new Map<object, Subscriber>();
  private ended = false;
  private assembled: { size: number; message: Promise<UIMessage | null> } | null = null;

  constructor(readonly messageId: string) {}

  get size(): number {
    return this.chunks.length;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Appends the next chunk and hands it to every subscriber that is due for it. */
  push(chunk: Chunk): number {
    const index = this.chunks.length;
    const entry: ReplyChunk = { chunk, json: JSON.stringify(chunk) };
    this.chunks.push(entry);
    for (const sub of this.subscribers.values()) {
      if (sub.next !== index) continue;
      sub.next = index + 1;
      sub.deliver(index, entry);
    }
    return index;
  }

  /** Replays from `from`, then follows live; subscribing again under the same key re-syncs. */
  subscribe(key: object, sub: Subscriber, from: number): void {
    sub.next = from;
    this.subscribers.set(key, sub);
    for (let i = from; i < this.chunks.length; i++) {
      const entry = this.chunks[i];
      if (!entry) break;
      sub.next = i + 1;
      sub.deliver(i, entry);
    }
    if (this.ended) this.unsubscribe(key);
  }

  unsubscribe(key: object): void {
    const sub = this.subscribers.get(key);
    if (!sub) return;
    this.subscribers.delete(key);
    sub.end();
  }

  /** Closes the stream for everyone and assembles the final message. */
  async end(): Promise<UIMessage | null> {
    this.ended = true;
    for (const key of [...this.subscribers.keys()]) this.unsubscribe(key);
    return this.message();
  }

  /** The message its chunks so far make, as the `ai` package assembles it (kept until a chunk is added). */
  message(): Promise<UIMessage | null> {
    if (this.assembled?.size !== this.size) {
      this.assembled = { size: this.size, message: assemble(this.chunks.map((c) => c.chunk)) };
    }
    return this.assembled.message;
  }
}

async function assemble(chunks: Chunk[]): Promise<UIMessage | null> {
  const stream = new ReadableStream<UIMessageChunk>({
    start(controller) {
      for (const chunk of chunks) if (chunk.type !== 'error') controller.enqueue(chunk as UIMessageChunk);
      controller.close();
    },
  });
  let last: UIMessage | null = null;
  // A malformed sequence (a delta for a part never started) must not lose what was assembled before it.
  for await (const message of readUIMessageStream({ stream, terminateOnError: false, onError: () => undefined })) {
    last = message;
  }
  return last;
}

/** The plain text of a message: its text parts, in order. */
export function plainText(parts: readonly MessagePart[]): string {
  return parts
    .filter((p): p is MessagePart & { text: string } => p.type === 'text' && typeof p.text === 'string')
    .map((p) => p.text)
    .join('\n\n');
}
