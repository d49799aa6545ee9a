import { readUIMessageStream, type UIMessage, type UIMessageChunk } from 'ai';
import type { AgentProgress } from '../agentcore/bridge';
import type { Chunk } from '../wire';

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

/** A reply's resume point (SPEC §6): how many of the agent's chunks the kept chunks came from, and whether it resumes. */
export interface ResumePoint {
  agentChunks: number;
  resumable: boolean;
}

/**
 * A batch of kept chunks with the resume point after it: one row per batch. Before, the point was a row of its
 * own rewritten with every batch, two rows written per batch (bench/capacity.ts measures it); an array is a batch
 * kept that way, its point in the `resume:` row.
 */
type KeptBatch = { chunks: Chunk[] } & ResumePoint;

/**
 * How often the chunks of a reply in flight are written down: a restart loses at most this much of the
 * text. Each write is a storage commit that holds workerd up for a disk sync locally (~2 ms here); at 100 ms
 * one chunk in fifty waited behind one and relay p99 was 3–3.9 ms, at 250 ms it is 0.8–1.8 ms (bench/chat.ts).
 */
const CHUNK_BATCH_MS = 250;

/**
 * The reply in flight: its chunks in order, who follows it, and their copy in the room's storage, from which a
 * restarted room rebuilds it (`restore`). Delivery is synchronous, so a subscriber added between two chunks sees
 * neither twice nor a gap. The chunks are written in batches, unconfirmed: a confirmed write per chunk makes the
 * output gate hold every socket send until it is durable (~30 ms a chunk locally, measured by bench/chat.ts
 * relay); what a crash can cost is the last batch. The message is assembled (by the `ai` package) only when asked:
 * per chunk, that work would sit on the relay path (it clones the message every time).
 */
export class ReplyStream {
  readonly chunks: ReplyChunk[] = [];
  readonly abort = new AbortController();
  /**
   * Whether the agent resumes, and how many of its chunks have been read; the bridge keeps it up to date. Noted
   * for each chunk as it is relayed and kept with the chunks, so a restart knows where to ask the agent to go on.
   */
  readonly progress: AgentProgress;
  private readonly agentChunksAt: number[] = [];
  private readonly subscribers = new Map<object, Subscriber>();
  private ended = false;
  private assembled: { size: number; message: Promise<UIMessage | null> } | null = null;
  private keptUpTo = 0;
  /** The rows its batches are kept in: drop() deletes them without listing them first (a row read each). */
  private readonly keptKeys: string[] = [];
  private writer: ReturnType<typeof setTimeout> | null = null;

  /** `onFirstKept` runs when the first batch is written: the reply is then worth resuming after a restart. */
  constructor(
    readonly messageId: string,
    private readonly storage: DurableObjectStorage,
    private readonly onFirstKept: () => void = () => undefined,
    progress: AgentProgress = { resumable: false, agentChunks: 0 },
  ) {
    this.progress = progress;
  }

  /** The reply `messageId` as a restarted room finds it: the chunks kept, and where the agent stood after them. */
  static async restore(
    storage: DurableObjectStorage,
    messageId: string,
    onFirstKept?: () => void,
  ): Promise<ReplyStream> {
    const point = (await storage.get<ResumePoint>(resumeKey(messageId))) ?? { resumable: false, agentChunks: 0 };
    const rows = await storage.list<Chunk[] | KeptBatch>({ prefix: chunkKey(messageId, null) });
    const kept = [...rows.values()];
    const last = kept.at(-1);
    // keepResumable may have said it resumes after the last batch was written: either row saying so is enough.
    if (last && !Array.isArray(last)) {
      point.resumable ||= last.resumable;
      point.agentChunks = Math.max(point.agentChunks, last.agentChunks);
    }
    const stream = new ReplyStream(messageId, storage, onFirstKept, { ...point });
    stream.keptKeys.push(...rows.keys());
    for (const chunk of kept.flatMap((batch) => (Array.isArray(batch) ? batch : batch.chunks))) {
      stream.chunks.push({ chunk, json: JSON.stringify(chunk) });
      stream.agentChunksAt.push(point.agentChunks);
    }
    stream.keptUpTo = stream.size;
    return stream;
  }

  /**
   * The reply `previous`, ended asking a person's approval (SPEC §9), going on under the same id: its chunks, sealed
   * in storage already (`seal`), then the continuation's, their indexes continuing, so a reader that resumes from
   * any index, 0 included, misses nothing. The agent's count starts again: the continuation is a run of its own.
   */
  static continuing(previous: ReplyStream, onFirstKept?: () => void): ReplyStream {
    const stream = new ReplyStream(previous.messageId, previous.storage, onFirstKept);
    for (const { chunk, json } of previous.chunks) {
      stream.chunks.push({ chunk, json });
      stream.agentChunksAt.push(0);
    }
    stream.keptUpTo = stream.size;
    stream.keptKeys.push(...previous.keptKeys);
    return stream;
  }

  get size(): number {
    return this.chunks.length;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Hot path: appends the next chunk, hands it to every subscriber that is due for it, and keeps it in a batch. */
  push(chunk: Chunk): number {
    const index = this.chunks.length;
    const entry: ReplyChunk = { chunk, json: JSON.stringify(chunk) };
    this.chunks.push(entry);
    this.agentChunksAt[index] = this.progress.agentChunks;
    for (const sub of this.subscribers.values()) {
      if (sub.next !== index) continue;
      sub.next = index + 1;
      sub.deliver(index, entry);
    }
    this.writer ??= setTimeout(() => this.keep(), CHUNK_BATCH_MS);
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

  /** Closes the stream for everyone, writes nothing more, and assembles the final message. */
  async end(): Promise<UIMessage | null> {
    this.ended = true;
    if (this.writer) clearTimeout(this.writer);
    this.writer = null;
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

  /**
   * Forgets the kept chunks once the reply's final form is stored. Unconfirmed like the writes: a delete lost with
   * a crash leaves only a finished reply's spare chunks.
   */
  async drop(): Promise<void> {
    // The resume row is written only for an agent that resumes (keepResumable).
    const keys = [...this.keptKeys, ...(this.progress.resumable ? [resumeKey(this.messageId)] : [])];
    for (let i = 0; i < keys.length; i += 128) {
      this.storage.delete(keys.slice(i, i + 128), { allowUnconfirmed: true }).catch(() => undefined);
    }
  }

  /**
   * Keeps every chunk of a reply that ended asking a person's approval, for its continuation (`continuing`, or
   * `restore` after a restart), and forgets where its agent stood: the continuation is a run of its own, from its
   * chunk 0. Rows of at most SEALED_ROW_BYTES of chunks, without a resume point.
   */
  seal(): void {
    const rows = new Map<string, Chunk[]>();
    let from = 0;
    let bytes = 0;
    for (const [i, { chunk, json }] of this.chunks.entries()) {
      if (bytes + json.length > SEALED_ROW_BYTES && i > from) {
        from = i;
        bytes = 0;
      }
      const key = chunkKey(this.messageId, from);
      const row = rows.get(key) ?? [];
      row.push(chunk);
      rows.set(key, row);
      bytes += json.length;
    }
    const stale = [...this.keptKeys, resumeKey(this.messageId)].filter((key) => !rows.has(key));
    for (let i = 0; i < stale.length; i += 128) {
      this.storage.delete(stale.slice(i, i + 128), { allowUnconfirmed: true }).catch(() => undefined);
    }
    for (const [key, chunks] of rows) this.storage.put(key, chunks, { allowUnconfirmed: true }).catch(() => undefined);
    this.keptKeys.splice(0, this.keptKeys.length, ...rows.keys());
    this.keptUpTo = this.size;
  }

  /**
   * Once the agent has said it resumes (its first chunk): a restart before the first batch is written, or after one
   * written before the agent answered, must resume the reply too, not end it `interrupted` (faults restart).
   */
  keepResumable(): void {
    if (!this.progress.resumable) return;
    const point: ResumePoint = { agentChunks: this.agentChunksAt[this.keptUpTo - 1] ?? 0, resumable: true };
    this.storage.put(resumeKey(this.messageId), point, { allowUnconfirmed: true }).catch(() => undefined);
  }

  /** Writes the chunks not yet kept, with where the agent stood after the last of them, as one row. */
  private keep(): void {
    this.writer = null;
    if (this.ended || this.keptUpTo >= this.size) return;
    const from = this.keptUpTo;
    const batch = this.chunks.slice(from).map((c) => c.chunk);
    this.keptUpTo += batch.length;
    const kept: KeptBatch = {
      chunks: batch,
      agentChunks: this.agentChunksAt[this.keptUpTo - 1] ?? 0,
      resumable: this.progress.resumable,
    };
    const key = chunkKey(this.messageId, from);
    this.keptKeys.push(key);
    // A failed write (the object is being reset) loses only what a restart would lose anyway.
    this.storage.put(key, kept, { allowUnconfirmed: true }).catch(() => undefined);
    if (from === 0) this.onFirstKept();
  }
}

/** A sealed reply's chunks per row, well under a storage value's limit. */
const SEALED_ROW_BYTES = 64 * 1024;

const resumeKey = (messageId: string) => `resume:${messageId}`;
/** Zero-padded so the key order is the chunk order. */
const chunkKey = (messageId: string, index: number | null) =>
  `chunk:${messageId}:${index === null ? '' : String(index).padStart(8, '0')}`;

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
