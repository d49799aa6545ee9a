/**
 * A shared conversation as its public link shows it (SPEC §10), followed live with no sign-in: the written messages,
 * the reply being written as it streams, and every message written after. Framework-free; `@agent-chat/react`'s
 * `<SharedConversation>` renders it.
 */
import type { UIMessage } from 'ai';
import { EventSourceParserStream } from 'eventsource-parser/stream';
import { Chunk, type SharedMessage, SharedUpdate } from '../../../worker/wire';
import { LiveReply } from './reply';

/** `live` while following; `reconnecting` after a drop; `gone` when the link does not work (never made, revoked, deleted). */
export type SharedLinkState = 'connecting' | 'live' | 'reconnecting' | 'gone';

export interface SharedSnapshot {
  conversation: { title: string; created_at: string } | null;
  messages: readonly SharedMessage[];
  /** The reply being written, as far as it has come; `ended` once its last chunk arrived (its message follows). */
  reply: { messageId: string; parts: UIMessage['parts']; ended: boolean } | null;
  state: SharedLinkState;
}

const TERMINAL = new Set(['finish', 'abort', 'error']);
const RETRY_MS = [500, 1_000, 2_000, 5_000, 10_000];

export interface SharedConversationOptions {
  /** Where the API is: '' for the page's own origin. */
  baseUrl?: string;
  shareId: string;
  fetch?: typeof fetch;
}

export class SharedConversation {
  private snapshot: SharedSnapshot = { conversation: null, messages: [], reply: null, state: 'connecting' };
  private readonly listeners = new Set<() => void>();
  private readonly abort = new AbortController();
  private live: LiveReply | null = null;
  private liveEnded = false;
  private failures = 0;

  constructor(private readonly options: SharedConversationOptions) {
    void this.follow();
  }

  readonly getSnapshot = (): SharedSnapshot => this.snapshot;

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  };

  close(): void {
    this.abort.abort();
    this.live?.end();
  }

  private set(change: Partial<SharedSnapshot>): void {
    this.snapshot = { ...this.snapshot, ...change };
    for (const listener of this.listeners) listener();
  }

  /** Reads the stream; after a drop, reads it again (it starts over from the written messages) until the link is gone. */
  private async follow(): Promise<void> {
    const url = `${this.options.baseUrl ?? ''}/api/v1/shared/${encodeURIComponent(this.options.shareId)}/stream`;
    const fetcher = this.options.fetch ?? fetch.bind(globalThis);
    while (!this.abort.signal.aborted) {
      try {
        const res = await fetcher(url, { headers: { accept: 'text/event-stream' }, signal: this.abort.signal });
        if (res.status === 404) {
          this.set({ state: 'gone', reply: null });
          return;
        }
        if (res.ok) await this.read(res);
      } catch {
        // A network failure: tried again below.
      }
      if (this.abort.signal.aborted) return;
      this.set({ state: 'reconnecting' });
      const wait = RETRY_MS[Math.min(this.failures++, RETRY_MS.length - 1)] ?? 10_000;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  private async read(res: Response): Promise<void> {
    if (!res.body) return;
    const reader = res.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
    for (;;) {
      const { value: event, done } = await reader.read();
      if (done) return;
      let data: unknown;
      try {
        data = JSON.parse(event.data);
      } catch {
        continue;
      }
      const update =
        (data as { type?: unknown }).type === 'data-conversation' ? (data as { data: unknown }).data : null;
      if (update !== null) this.onUpdate(SharedUpdate.parse(update));
      else if (event.id) this.onChunk(event.id, Chunk.parse(data));
    }
  }

  private onUpdate(update: SharedUpdate): void {
    this.failures = 0;
    const messages = [...this.snapshot.messages.slice(0, update.from), ...update.messages];
    // A reply that has ended is now among the written messages: its live copy goes. A stream (re)opens with the
    // whole conversation from 0: a reply cut off by the drop is replayed after it, or is written already.
    if (this.liveEnded || update.from === 0) {
      this.live?.end();
      this.live = null;
    }
    this.set({
      conversation: update.conversation,
      messages,
      state: 'live',
      reply: this.live ? this.snapshot.reply : null,
    });
  }

  private onChunk(id: string, chunk: Chunk): void {
    const cut = id.lastIndexOf(':');
    const messageId = id.slice(0, cut);
    const index = Number(id.slice(cut + 1));
    if (index === 0 || this.live?.messageId !== messageId) {
      this.live?.end();
      const reply = new LiveReply(messageId, () => {
        if (this.live === reply) this.set({ reply: { messageId, parts: reply.parts, ended: this.liveEnded } });
      });
      this.live = reply;
      this.liveEnded = false;
      this.set({ reply: { messageId, parts: [], ended: false } });
    }
    this.live.accept(index, chunk);
    if (!TERMINAL.has(chunk.type)) return;
    this.liveEnded = true;
    this.live.end();
    const reply = this.snapshot.reply;
    if (reply) this.set({ reply: { ...reply, ended: true } });
  }
}
