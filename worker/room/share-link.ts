import { base64url } from 'jose';
import type { Config } from '../config';
import { ApiError } from '../errors';
import type { Message, SharedConversation } from '../wire';
import type { Outbox } from './outbox';
import type { ReplyStream } from './reply-stream';
import { ShareViewers, sharedMessage } from './share-viewers';
import type { ConversationRecord, RoomStore, ShareRecord } from './store';

/** How long making a share link waits for Postgres, where the public link is looked up, before it answers anyway. */
const SHARE_WAIT_MS = 5_000;

/** What the share link touches in its room. */
export interface ShareRoom {
  store(): RoomStore;
  config(): Config;
  outbox: Outbox;
  /** The link was made or revoked: the conversation's `shared` changed. */
  changed(c: ConversationRecord): void;
}

/**
 * The conversation's public share link (SPEC §10): made on first asking and the same one after, revoked, what it
 * shows (the written messages, no ids or metadata), and its live viewers, told of every message written, every
 * reply that starts and every rename. The room checks the owner before making or revoking it.
 */
export class ShareLink {
  private readonly viewers: ShareViewers;

  constructor(private readonly room: ShareRoom) {
    this.viewers = new ShareViewers(room.config);
  }

  /** `c` is the owner's conversation (the room checked). */
  async make(c: ConversationRecord): Promise<ShareRecord> {
    const store = this.room.store();
    const existing = store.share();
    if (existing) return existing;
    // 128 random bits (SPEC §10): a link cannot be guessed, and says nothing about its conversation.
    const share = {
      id: base64url.encode(crypto.getRandomValues(new Uint8Array(16))),
      createdAt: new Date().toISOString(),
    };
    store.saveShare(share);
    this.room.changed(c);
    // The public link is looked up in Postgres: answer once it is there if Postgres keeps up; else the alarm retries.
    await this.room.outbox.flushWithin(SHARE_WAIT_MS);
    return share;
  }

  /** It is refused at once and its live viewers are closed. */
  revoke(c: ConversationRecord): null {
    const store = this.room.store();
    if (!store.share()) return null;
    store.saveShare(null);
    this.room.changed(c);
    this.viewers.closeAll();
    this.room.outbox.kick();
    return null;
  }

  /** What the public link `shareId` shows; not_found when it is not this conversation's live link. */
  view(shareId: string): SharedConversation {
    return this.shown(this.conversation(shareId));
  }

  /** The link's live stream (SSE): the written messages, the reply in flight, then everything as it happens. */
  watch(shareId: string, inFlight: ReplyStream | null): Response {
    return this.viewers.open({ ...this.view(shareId), from: 0 }, inFlight);
  }

  /** A reply has started: its user message, then its chunks as they stream. */
  started(user: Message, stream: ReplyStream): void {
    this.written(user);
    this.viewers.follow(stream);
  }

  /**
   * A reply goes on after its approvals were answered (SPEC §9): it streams again, so for the viewers it is no longer
   * written; they follow it from its first chunk, as a viewer who arrives now would, until it is written again.
   */
  continued(reply: Message, stream: ReplyStream): void {
    const c = this.room.store().conversation();
    if (!c || this.viewers.count === 0) return;
    const from = this.room.store().writtenBefore(reply.seq);
    this.viewers.update({ conversation: sharedInfo(c), from, messages: [] });
    this.viewers.follow(stream);
  }

  /** A message was written: the viewers get it, at its place among the written messages. */
  written(m: Message): void {
    const c = this.room.store().conversation();
    if (!c || this.viewers.count === 0) return;
    const from = this.room.store().writtenBefore(m.seq);
    this.viewers.update({ conversation: sharedInfo(c), from, messages: [sharedMessage(m)] });
  }

  renamed(c: ConversationRecord): void {
    const from = this.room.store().writtenBefore(Number.MAX_SAFE_INTEGER);
    this.viewers.update({ conversation: sharedInfo(c), from, messages: [] });
  }

  /** Another branch is the active one: viewers are shown it whole. */
  switched(c: ConversationRecord): void {
    this.viewers.update({ ...this.shown(c), from: 0 });
  }

  /** The conversation is deleted, which revokes the link (the store forgets it with the rest): viewers are closed. */
  closeAll(): void {
    this.viewers.closeAll();
  }

  /** What a link shows of `c`: its title and the active branch's written messages (SPEC §9, §10). */
  private shown(c: ConversationRecord): SharedConversation {
    return { conversation: sharedInfo(c), messages: this.room.store().written(c.id).map(sharedMessage) };
  }

  /** The conversation whose live link `shareId` is; not_found for any other id, a revoked one or a deleted conversation. */
  private conversation(shareId: string): ConversationRecord {
    const store = this.room.store();
    const c = store.conversation();
    if (!c || store.share()?.id !== shareId) throw new ApiError('not_found', 'no such shared conversation');
    return c;
  }
}

const sharedInfo = (c: ConversationRecord) => ({ title: c.title, created_at: c.createdAt });
