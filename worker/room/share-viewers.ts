import { ApiError } from '../errors';
import type { Chunk, Message, SharedMessage, SharedUpdate } from '../wire';
import type { ReplyChunk, ReplyStream } from './reply-stream';
import { type ReaderLimits, SSE_HEADERS } from './sse';

const encoder = new TextEncoder();

/** A message as a share link shows it (SPEC §10): no ids, no status, no metadata. */
export function sharedMessage(m: Pick<Message, 'role' | 'content' | 'parts' | 'created_at'>): SharedMessage {
  return { role: m.role, content: m.content, parts: m.parts, created_at: m.created_at };
}

/**
 * A chunk as a share viewer gets it. `start` and `finish` carry the room's metadata (the conversation's and the user
 * message's ids) and `message-metadata` the agent's (model, usage): a viewer gets none of it. The chunk keeps its
 * place, so the indexes stay without gaps and a viewer's reply is assembled as the owner's is.
 */
export function publicChunk(chunk: Chunk): Chunk {
  if (chunk.type === 'message-metadata') return { type: 'message-metadata', messageMetadata: {} };
  if (chunk.type !== 'start' && chunk.type !== 'finish') return chunk;
  const { messageMetadata: _, ...rest } = chunk;
  return rest;
}

/** Every viewer of a reply gets the same public JSON of a chunk: made once. */
const publicJson = new WeakMap<ReplyChunk, string>();

function publicJsonOf(entry: ReplyChunk): string {
  let json = publicJson.get(entry);
  if (json === undefined) {
    json = JSON.stringify(publicChunk(entry.chunk));
    publicJson.set(entry, json);
  }
  return json;
}

const chunkEvent = (messageId: string, index: number, json: string) =>
  encoder.encode(`id: ${messageId}:${index}\ndata: ${json}\n\n`);
const updateEvent = (update: SharedUpdate) =>
  encoder.encode(`data: ${JSON.stringify({ type: 'data-conversation', data: update })}\n\n`);

interface Viewer {
  out: ReadableStreamDefaultController<Uint8Array>;
  /** The reply it follows, and its key there. */
  following: ReplyStream | null;
  key: object;
}

/**
 * The live viewers of a conversation's share link (SPEC §10): public SSE streams that follow the conversation, not
 * one reply. Each opens with the written messages (a `data-conversation` event from position 0), gets the reply in
 * flight from its first chunk, and then every reply as it streams and every committed message. A revoke, or the
 * conversation's delete, closes them all; a viewer that leaves SSE_MAX_LAG_BYTES unread is cut off (it reconnects
 * and starts over from the written messages).
 */
export class ShareViewers {
  private readonly viewers = new Set<Viewer>();

  constructor(private readonly limits: () => ReaderLimits) {}

  get count(): number {
    return this.viewers.size;
  }

  open(first: SharedUpdate, inFlight: ReplyStream | null): Response {
    if (this.viewers.size >= this.limits().MAX_SSE_READERS_PER_CONVERSATION) {
      throw new ApiError('too_many_connections', 'too many viewers of this link', { retryAfter: 5 });
    }
    let viewer: Viewer | null = null;
    const body = new ReadableStream<Uint8Array>(
      {
        start: (out) => {
          viewer = { out, following: null, key: {} };
          this.viewers.add(viewer);
          this.send(viewer, updateEvent(first));
          if (inFlight) this.follow1(viewer, inFlight);
        },
        cancel: () => {
          if (viewer) this.leave(viewer);
        },
      },
      // No high-water mark: whatever sits in the queue is unread, and -desiredSize says how much.
      new ByteLengthQueuingStrategy({ highWaterMark: 0 }),
    );
    return new Response(body, { headers: { ...SSE_HEADERS, 'cache-control': 'no-store' } });
  }

  /** A reply has started: every viewer follows it from its first chunk. */
  follow(stream: ReplyStream): void {
    for (const viewer of this.viewers) this.follow1(viewer, stream);
  }

  /** A message was written, or the conversation renamed. */
  update(update: SharedUpdate): void {
    if (this.viewers.size === 0) return;
    const event = updateEvent(update);
    for (const viewer of this.viewers) this.send(viewer, event);
  }

  /** The link was revoked or the conversation deleted: every viewer's stream ends. */
  closeAll(): void {
    for (const viewer of [...this.viewers]) {
      this.leave(viewer);
      try {
        viewer.out.close();
      } catch {
        // Already closed or errored.
      }
    }
  }

  private follow1(viewer: Viewer, stream: ReplyStream): void {
    viewer.following?.unsubscribe(viewer.key);
    viewer.following = stream;
    stream.subscribe(
      viewer.key,
      {
        next: 0,
        deliver: (index, entry) => this.send(viewer, chunkEvent(stream.messageId, index, publicJsonOf(entry))),
        end: () => {
          if (viewer.following === stream) viewer.following = null;
        },
      },
      0,
    );
  }

  private send(viewer: Viewer, bytes: Uint8Array): void {
    if (!this.viewers.has(viewer)) return;
    viewer.out.enqueue(bytes);
    if (-(viewer.out.desiredSize ?? 0) <= this.limits().SSE_MAX_LAG_BYTES) return;
    this.leave(viewer);
    viewer.out.error(new Error('the viewer fell too far behind'));
  }

  private leave(viewer: Viewer): void {
    if (!this.viewers.delete(viewer)) return;
    viewer.following?.unsubscribe(viewer.key);
    viewer.following = null;
  }
}
