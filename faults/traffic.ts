/**
 * Chat traffic for the experiments: sends over JSON, SSE or a WebSocket, each recorded in its conversation's
 * Transcript (what was admitted, the text streamed, the status it ended with) for the invariant checks.
 */
import type { Message, ServerFrame } from '../worker/wire';
import type { Transcript } from './invariants';
import { type Socket, textOf } from './lab';

export type Channel = 'json' | 'sse' | 'ws';
export const CHANNELS: Channel[] = ['json', 'sse', 'ws'];

export interface Sent {
  status: Message['status'];
  /** Milliseconds from the send to its first text chunk (SSE and WebSocket), and to its end. */
  firstChunkMs: number | undefined;
  totalMs: number;
}

/** A conversation's traffic: one user, one socket kept open for WebSocket sends. */
export class Conversation {
  private socket: Socket | undefined;

  constructor(readonly t: Transcript) {}

  async send(channel: Channel, content: string): Promise<Sent> {
    const clientMessageId = crypto.randomUUID();
    const started = performance.now();
    if (channel === 'json') {
      const r = await this.t.user.ok<{ reply: Message }>('POST', '/messages', {
        conversation_id: this.t.conversationId,
        content,
        client_message_id: clientMessageId,
      });
      this.t.admitted.push({ clientMessageId, content });
      this.t.ended.set(r.reply.id, r.reply.status);
      return { status: r.reply.status, firstChunkMs: undefined, totalMs: performance.now() - started };
    }
    if (channel === 'sse') {
      let firstChunkMs: number | undefined;
      const read = await this.t.user.sendSse(
        { conversation_id: this.t.conversationId, content, client_message_id: clientMessageId },
        undefined,
        () => {
          firstChunkMs ??= performance.now() - started;
        },
      );
      if (read.status !== 200) throw new Error(`SSE send: ${read.status} ${read.text.slice(0, 200)}`);
      this.t.admitted.push({ clientMessageId, content });
      const replyId = read.events[0]?.id?.split(':')[0] ?? '';
      const chunks = read.events.map((e) => JSON.parse(e.data) as { type: string; delta?: unknown });
      this.t.streamed.set(replyId, textOf(chunks));
      const status = chunks.at(-1)?.type === 'finish' ? 'complete' : 'error';
      this.t.ended.set(replyId, status);
      return { status, firstChunkMs, totalMs: performance.now() - started };
    }
    return this.sendOverSocket(content, clientMessageId, started);
  }

  private async sendOverSocket(content: string, clientMessageId: string, started: number): Promise<Sent> {
    if (!this.socket || this.socket.closed) this.socket = await this.t.user.socket(this.t.conversationId);
    const socket = this.socket;
    const from = socket.frames.length;
    socket.send({ type: 'send', content, client_message_id: clientMessageId });
    const mine = (fs: ServerFrame[]) => fs.slice(from);
    await socket.until((fs) =>
      mine(fs).some(
        (f) =>
          (f.type === 'message' && f.message.role === 'user' && f.message.client_message_id === clientMessageId) ||
          (f.type === 'error' && f.client_message_id === clientMessageId),
      ),
    );
    const refused = mine(socket.frames).find((f) => f.type === 'error' && f.client_message_id === clientMessageId);
    if (refused?.type === 'error') throw new Error(`WebSocket send refused: ${refused.code} ${refused.message}`);
    this.t.admitted.push({ clientMessageId, content });
    const user = mine(socket.frames).find(
      (f) => f.type === 'message' && f.message.role === 'user' && f.message.client_message_id === clientMessageId,
    );
    const userId = user?.type === 'message' ? user.message.id : '';
    // The socket also hears the end of the previous reply (sent over another channel): this reply answers `userId`.
    const isReply = (f: ServerFrame) => f.type === 'message' && f.message.reply_to === userId;
    await socket.until((fs) => mine(fs).some(isReply));
    const start = mine(socket.frames).find(isReply);
    if (start?.type !== 'message') throw new Error('no reply');
    const replyId = start.message.id;
    let firstChunkMs: number | undefined;
    await socket.until((fs) => {
      if (firstChunkMs === undefined && mine(fs).some((f) => f.type === 'chunk' && f.message_id === replyId)) {
        firstChunkMs = performance.now() - started;
      }
      return mine(fs).some((f) => f.type === 'message' && f.message.id === replyId && f.message.status !== 'streaming');
    }, 120_000);
    const chunks = mine(socket.frames).flatMap((f) =>
      f.type === 'chunk' && f.message_id === replyId ? [f.chunk] : [],
    );
    const final = mine(socket.frames).find(
      (f) => f.type === 'message' && f.message.id === replyId && f.message.status !== 'streaming',
    );
    const status = final?.type === 'message' ? final.message.status : 'error';
    this.t.streamed.set(replyId, textOf(chunks));
    this.t.ended.set(replyId, status);
    return { status, firstChunkMs, totalMs: performance.now() - started };
  }

  close(): void {
    this.socket?.close();
  }
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}
