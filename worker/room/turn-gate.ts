import { ApiError } from '../errors';
import type { Message } from '../wire';
import type { ReplyStream } from './reply-stream';

/**
 * One reply at a time in a conversation, and one answer per client_message_id. A send holds the gate from its
 * checks to its commit (`starting`); the reply it starts holds it until it ends. A second send with the same
 * client_message_id waits for the first to be committed or refused, then finds what it made.
 */
export class TurnGate {
  /** Set while a send is between its checks and its commit, so a second one waits or is refused. */
  private starting: Promise<unknown> | null = null;
  private readonly pendingByClientId = new Map<string, Promise<unknown>>();
  /** Settles with each reply in flight's final message (null when its conversation was deleted). */
  private readonly replyDone = new Map<string, Promise<Message | null>>();
  private stream: ReplyStream | null = null;

  /** The latest reply, from its start until its final form is stored (its stream may have ended already). */
  get current(): ReplyStream | null {
    return this.stream;
  }

  /** The reply streaming now, if one is. */
  get live(): ReplyStream | null {
    return this.stream && !this.stream.isEnded ? this.stream : null;
  }

  /** Waits until a send with the same client_message_id, if one is between its checks and its commit, is past. */
  async afterEarlier(clientMessageId: string | undefined): Promise<void> {
    const pending = clientMessageId ? this.pendingByClientId.get(clientMessageId) : undefined;
    if (pending) await pending.catch(() => undefined);
  }

  /** Refuses a send while another is starting or a reply streams. */
  assertFree(): void {
    if (this.starting || this.live) {
      throw new ApiError('reply_in_progress', 'a reply is still streaming in this conversation; stop it or wait');
    }
  }

  /** Holds the gate while a send's checks run; the caller commits right after, in the same turn. */
  async hold<T>(clientMessageId: string | undefined, checks: Promise<T>): Promise<T> {
    this.starting = checks;
    if (clientMessageId) this.pendingByClientId.set(clientMessageId, checks);
    try {
      return await checks;
    } finally {
      this.starting = null;
      if (clientMessageId) this.pendingByClientId.delete(clientMessageId);
    }
  }

  /** A reply has started streaming; `done` settles with its final message. */
  began(stream: ReplyStream, done: Promise<Message | null>): void {
    this.stream = stream;
    this.replyDone.set(stream.messageId, done);
  }

  /** The reply has ended and its final form is stored (or its conversation is gone). */
  ended(stream: ReplyStream): void {
    if (this.stream === stream) this.stream = null;
    this.replyDone.delete(stream.messageId);
  }

  /**
   * Settles with the final message of reply `replyId` once it has ended and gone on no more: a reply that ends asking
   * approvals a remembered answer gives goes on at once, under the same id (SPEC §9). Undefined when none is in flight.
   */
  async settled(replyId: string): Promise<Message | null | undefined> {
    let final: Message | null | undefined;
    for (let done = this.done(replyId); done; done = this.done(replyId)) final = await done;
    return final;
  }

  /** Settles with the final message of the reply in flight `replyId` (undefined when none is). */
  done(replyId: string): Promise<Message | null> | undefined {
    return this.replyDone.get(replyId);
  }
}
