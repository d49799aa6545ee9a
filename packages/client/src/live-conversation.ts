/**
 * One conversation kept live: committed messages, sends in flight, streaming replies, and the connection that
 * feeds them — WebSocket first, then SSE, then polling (SPEC §8). Framework-free: `subscribe` + `getSnapshot`
 * fit React's useSyncExternalStore and any other view.
 */
import type { UIMessage } from 'ai';
import {
  type Branch,
  type Chunk,
  type ClientFrame,
  type Conversation,
  codePointLength,
  type Feedback,
  MAX_CONTENT_CODE_POINTS,
  type Message,
  type MessagePart,
  plainText,
  type ServerFrame,
} from '../../../worker/wire';
import type { ApprovalRequest, ChatApi, SendBody } from './api';
import { awaitsApproval, carryAnswers, isOlderCopy } from './approvals';
import { ChatError, isChatError } from './errors';
import { LiveReply } from './reply';
import { ConversationSocket } from './socket';
import { readReplyEvents } from './sse';

/** How the conversation is kept live right now; `signed_out` when no token can be had (see `signedOut`). */
export type LinkState =
  | 'idle'
  | 'connecting'
  | 'connected'
  | 'reconnecting'
  | 'sse'
  | 'polling'
  | 'offline'
  | 'signed_out';

export interface Notice {
  code: string;
  message: string;
  /** When a rate limit lifts (ms since epoch), for a countdown. */
  retryAt: number | null;
}

export type ItemStatus = Message['status'] | 'sending' | 'failed';

export interface ChatItem {
  /** Stable across the optimistic → committed switch, so the bubble is not remounted. */
  key: string;
  id: string | null;
  role: Message['role'];
  parts: readonly (MessagePart | UIMessage['parts'][number])[];
  text: string;
  status: ItemStatus;
  error: { code: string; message: string } | null;
  clientMessageId: string | null;
  /** The message this one follows (SPEC §9); null for the first and for sends not yet committed. */
  parentId: string | null;
  /** Its place among its siblings (edits of a user message, regenerations of a reply); null while not committed. */
  branch: Branch | null;
  /** The owner's thumbs on a reply (SPEC §9), as every tab shows it; a rating on its way shows at once. */
  feedback: Feedback | null;
}

export interface ChatSnapshot {
  conversationId: string | null;
  conversation: Conversation | null;
  items: readonly ChatItem[];
  historyLoaded: boolean;
  hasOlder: boolean;
  loadingOlder: boolean;
  streaming: boolean;
  link: LinkState;
  notice: Notice | null;
  missing: boolean;
  /** Why no token could be had (getToken threw or gave none, or the server refused a fresh one); `reconnect()` tries again. */
  signedOut: ChatError | null;
}

export interface LiveConversationEvents {
  /** The first send of a new chat created this conversation. */
  created(conversationId: string): void;
  conversation(conversation: Conversation): void;
  activity(conversationId: string, at: string, streaming: boolean): void;
  deleted(conversationId: string): void;
}

interface PendingSend {
  clientMessageId: string;
  content: string;
  state: 'sending' | 'accepted' | 'failed';
  error: { code: string; message: string } | null;
  /** An edit (SPEC §9): the user message this one stands beside. */
  editOf?: string;
  /** A regenerate: the reply a new one is asked in place of (content is unused). */
  regenerates?: string;
}

export type SendRefusal = 'empty' | 'too_long' | 'busy';

/** A person's answer to a tool's approval request (SPEC §9). */
export interface ApprovalAnswer {
  approvalId: string;
  approved: boolean;
  /** Answer this tool's later requests in this conversation the same way, without asking. */
  remember?: boolean;
  reason?: string;
}

const PAGE = 50;
const POLL_STREAMING_MS = 1_500;
const POLL_IDLE_MS = 5_000;
const SOCKET_RETRY_AFTER_FALLBACK_MS = 30_000;
const SSE_RESUME_ATTEMPTS = 3;
/**
 * The feedback API finds a reply's conversation in Postgres, which the room's outbox reaches a moment after the
 * reply ends: until then it answers not_found. Asked again after 0.4, 0.8 … 2 s (6 s in all), then shown as an error.
 */
const FEEDBACK_RETRIES = 5;
const FEEDBACK_RETRY_MS = 400;

const FINAL = new Set<Message['status']>(['complete', 'stopped', 'error']);

function describe(error: unknown): { code: string; message: string; retryAfter: number | null } {
  if (error instanceof ChatError) return { code: error.code, message: error.message, retryAfter: error.retryAfter };
  return { code: 'network', message: 'The connection was lost.', retryAfter: null };
}

let instances = 0;

const nextFrame = (fn: () => void): number =>
  typeof requestAnimationFrame === 'function' ? requestAnimationFrame(fn) : Number(setTimeout(fn, 0));
const cancelFrame = (handle: number): void => {
  if (typeof cancelAnimationFrame === 'function') cancelAnimationFrame(handle);
  else clearTimeout(handle);
};
const online = (): boolean => typeof navigator === 'undefined' || navigator.onLine !== false;

export class LiveConversation {
  /** Identifies this store for React keys; the conversation id changes when a new chat is created. */
  readonly instance = ++instances;
  private conversationId: string | null;
  private conversation: Conversation | null = null;
  private readonly messages = new Map<string, Message>();
  /** The last message of the active branch (SPEC §9): the items are the path from the root to it. */
  private headId: string | null = null;
  /** Counts the head's changes, so a page fetched for an older head does not set `hasOlder`. */
  private headEpoch = 0;
  /** A head this page does not hold yet (another branch): shown once the page of its path has been read. */
  private headLoading: string | null = null;
  private readonly pending = new Map<string, PendingSend>();
  /** Ratings on their way (null: being removed), shown until the room has answered; one request at a time per reply. */
  private readonly feedbackShown = new Map<string, Feedback | null>();
  private readonly feedbackQueue = new Map<string, Promise<void>>();
  private readonly live = new Map<string, LiveReply>();
  /** Replies that have a reader on an SSE response right now. */
  private readonly sseFollowing = new Set<string>();
  private resumeAsked = new Map<string, number>();
  private historyLoaded = false;
  private hasOlder = false;
  private loadingOlder = false;
  private link: LinkState = 'idle';
  private notice: Notice | null = null;
  private missing = false;
  private signedOut: ChatError | null = null;
  private socket: ConversationSocket | null = null;
  private fallback = false;
  private sseBroken = false;
  private pollTimer: ReturnType<typeof setTimeout> | undefined;
  private socketRetryTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly aborts = new AbortController();
  private disposed = false;

  private snapshot: ChatSnapshot;
  private readonly listeners = new Set<() => void>();
  private frame = 0;

  constructor(
    private readonly api: ChatApi,
    conversationId: string | null,
    private readonly events: Partial<LiveConversationEvents> = {},
  ) {
    this.conversationId = conversationId;
    this.snapshot = this.build();
    if (typeof window !== 'undefined' && typeof window.addEventListener === 'function') {
      window.addEventListener('online', this.onOnline);
      window.addEventListener('offline', this.onOffline);
    }
  }

  // ── React binding ─────────────────────────────────────────────────────────

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  readonly getSnapshot = (): ChatSnapshot => this.snapshot;

  /** At most one render per animation frame (outside a browser: per task), however fast chunks arrive. */
  private changed = (): void => {
    if (this.frame || this.disposed) return;
    this.frame = nextFrame(() => {
      this.frame = 0;
      this.snapshot = this.build();
      for (const listener of this.listeners) listener();
    });
  };

  get id(): string | null {
    return this.conversationId;
  }

  // ── lifecycle ─────────────────────────────────────────────────────────────

  async start(): Promise<void> {
    const id = this.conversationId;
    if (!id) {
      this.historyLoaded = true;
      this.changed();
      return;
    }
    this.setLink('connecting');
    try {
      const [conversation, page] = await Promise.all([
        this.api.getConversation(id),
        this.api.messages(id, { limit: PAGE }),
      ]);
      this.conversation = conversation;
      this.headId = conversation.head_id;
      this.merge(page.messages);
      this.hasOlder = page.has_more;
      this.historyLoaded = true;
    } catch (error) {
      if (isChatError(error, 'not_found')) return this.markMissing();
      if (this.isSignedOut(error)) return;
      this.historyLoaded = true;
      if (isChatError(error, 'network')) this.setLink('offline');
      this.showError(error);
    }
    this.changed();
    this.connect();
  }

  /**
   * After a sign-in problem (`signedOut`) or a long outage: ask for a token again, reload what was missed and
   * reconnect. Sends that had failed stay in the list with their retry.
   */
  reconnect(): void {
    if (this.disposed) return;
    const wasSignedOut = this.signedOut !== null;
    this.signedOut = null;
    this.notice = null;
    if (this.socket) this.socket.reconnect();
    if (wasSignedOut || !this.historyLoaded || !this.conversation) {
      this.historyLoaded = false;
      void this.start();
      return;
    }
    if (this.fallback) this.schedulePoll(0);
    else this.connect();
    void this.catchUp();
  }

  /** A token problem is not a notice but a state: the view shows a sign-in prompt with a retry. */
  private isSignedOut(error: unknown): boolean {
    if (!(isChatError(error, 'token_unavailable') || isChatError(error, 'unauthorized'))) return false;
    this.signedOut = error;
    this.socket?.close();
    this.socket = null;
    clearTimeout(this.pollTimer);
    clearTimeout(this.socketRetryTimer);
    this.fallback = false;
    this.link = 'signed_out';
    this.changed();
    return true;
  }

  dispose(): void {
    this.disposed = true;
    cancelFrame(this.frame);
    clearTimeout(this.pollTimer);
    clearTimeout(this.socketRetryTimer);
    this.aborts.abort();
    this.socket?.close();
    this.socket = null;
    for (const reply of this.live.values()) reply.end();
    if (typeof window !== 'undefined' && typeof window.removeEventListener === 'function') {
      window.removeEventListener('online', this.onOnline);
      window.removeEventListener('offline', this.onOffline);
    }
  }

  private connect(): void {
    const id = this.conversationId;
    if (!id || this.disposed || this.missing || this.signedOut || this.socket) return;
    if (!this.fallback) this.setLink('connecting');
    this.socket = new ConversationSocket(this.api, id, {
      frame: (frame) => this.onFrame(frame),
      open: () => this.onSocketOpen(),
      down: () => {
        if (!this.fallback) this.setLink(online() ? 'reconnecting' : 'offline');
      },
      giveUp: () => {
        this.socket = null;
        this.enterFallback();
      },
      gone: () => this.markMissing(),
      signedOut: (error) => this.isSignedOut(error),
    });
  }

  private onSocketOpen(): void {
    if (this.fallback) {
      this.fallback = false;
      clearTimeout(this.pollTimer);
    }
    this.setLink('connected');
  }

  private enterFallback(): void {
    if (this.disposed || this.signedOut) return;
    this.fallback = true;
    this.setLink(this.sseBroken ? 'polling' : 'sse');
    this.schedulePoll(0);
    clearTimeout(this.socketRetryTimer);
    this.socketRetryTimer = setTimeout(() => this.connect(), SOCKET_RETRY_AFTER_FALLBACK_MS);
  }

  private readonly onOnline = (): void => {
    if (this.socket) this.socket.reconnect();
    else if (this.fallback) this.schedulePoll(0);
    else this.connect();
  };

  private readonly onOffline = (): void => this.setLink('offline');

  private setLink(link: LinkState): void {
    if (this.link === link) return;
    this.link = link;
    this.changed();
  }

  private markMissing(): void {
    this.missing = true;
    this.socket?.close();
    this.socket = null;
    clearTimeout(this.pollTimer);
    clearTimeout(this.socketRetryTimer);
    if (this.conversationId) this.events.deleted?.(this.conversationId);
    this.changed();
  }

  // ── frames (socket) ───────────────────────────────────────────────────────

  private onFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case 'ready':
        this.onReady(frame.conversation, frame.last_seq, frame.streaming);
        break;
      case 'message':
        this.merge([frame.message]);
        this.changed();
        break;
      case 'chunk':
        this.applyChunk(frame.message_id, frame.index, frame.chunk);
        break;
      case 'error':
        this.onErrorFrame(frame);
        break;
      case 'conversation':
        this.conversation = frame.conversation;
        this.events.conversation?.(frame.conversation);
        this.onHead(frame.conversation.head_id);
        this.changed();
        break;
      case 'head':
        this.onHead(frame.head_id);
        break;
      default:
        break;
    }
  }

  private onReady(
    conversation: Conversation,
    lastSeq: number,
    streaming: { message_id: string; next_index: number } | null,
  ): void {
    this.conversation = conversation;
    this.events.conversation?.(conversation);
    this.onHead(conversation.head_id);
    if (streaming) {
      const reply = this.liveReply(streaming.message_id);
      this.askResume(streaming.message_id, reply.nextIndex);
    }
    // Messages committed while this socket was down are not replayed over it: fetch them.
    const known = this.maxSeq();
    const stale = [...this.messages.values()].some((m) => m.status === 'streaming' && m.id !== streaming?.message_id);
    if (lastSeq > known || stale) void this.catchUp();
    // A send whose socket died before an answer: the same client_message_id makes the retry idempotent.
    for (const send of this.pending.values()) {
      if (send.state === 'sending') this.socket?.send(this.sendFrame(send));
    }
    this.changed();
  }

  private onErrorFrame(frame: Extract<ServerFrame, { type: 'error' }>): void {
    if (frame.code === 'not_found' && !frame.client_message_id) {
      this.resumeRefused();
      return;
    }
    const retryAfter = frame.retry_after ?? null;
    if (frame.client_message_id) this.failSend(frame.client_message_id, frame.code, frame.message);
    this.setNotice(frame.code, frame.message, retryAfter);
  }

  /** A resume for a reply the room no longer streams: it has ended, so the committed row is the truth. */
  private resumeRefused(): void {
    void this.catchUp();
  }

  private askResume(messageId: string, fromIndex: number): void {
    if (this.resumeAsked.get(messageId) === fromIndex) return;
    if (this.socket?.send({ type: 'resume', message_id: messageId, from_index: fromIndex })) {
      this.resumeAsked.set(messageId, fromIndex);
    }
  }

  // ── branches (SPEC §9) ────────────────────────────────────────────────────

  /**
   * The active branch changed (here or in another tab): the path shown follows it at once from what is known, and
   * the newest page of the new path is fetched (messages not seen yet, and every sibling count as it is now).
   */
  private onHead(headId: string | null): void {
    if (headId === null || headId === this.headId || headId === this.headLoading) return;
    this.headEpoch++;
    // A head not held here would show the newest message known meanwhile (another branch): wait for its page.
    if (this.messages.has(headId)) {
      this.headId = headId;
      this.headLoading = null;
      this.changed();
    } else {
      this.headLoading = headId;
    }
    void this.reloadPath(headId);
  }

  private async reloadPath(headId: string): Promise<void> {
    const id = this.conversationId;
    if (!id) return;
    const epoch = this.headEpoch;
    try {
      const page = await this.api.messages(id, { limit: PAGE });
      this.merge(page.messages);
      if (epoch === this.headEpoch) {
        this.headLoading = null;
        if (this.messages.has(headId)) this.headId = headId;
        this.hasOlder = this.pathReachesRoot() ? false : page.has_more;
      }
      this.changed();
    } catch (error) {
      if (this.headLoading === headId) this.headLoading = null;
      if (isChatError(error, 'not_found')) this.markMissing();
      else if (!this.isSignedOut(error)) this.showError(error);
    }
  }

  private pathReachesRoot(): boolean {
    const first = this.activePath()[0];
    return first !== undefined && first.parent_id === null;
  }

  /** The children of each message that is known, oldest first. */
  private childrenOf(): Map<string | null, Message[]> {
    const children = new Map<string | null, Message[]>();
    for (const m of this.messages.values()) {
      const list = children.get(m.parent_id);
      if (list) list.push(m);
      else children.set(m.parent_id, [m]);
    }
    for (const list of children.values()) list.sort((a, b) => a.seq - b.seq);
    return children;
  }

  /**
   * The path from the oldest known ancestor of the head to the head, oldest first. Messages that follow the head
   * (a send's, before any frame says the head moved) extend it by the newest child at each step, as the room does.
   */
  private activePath(): Message[] {
    const children = this.childrenOf();
    let head = this.headId ? this.messages.get(this.headId) : undefined;
    if (!head) {
      // No head known yet (or not loaded): the newest message, as before branches.
      for (const m of this.messages.values()) if (!head || m.seq > head.seq) head = m;
    }
    if (!head) return [];
    for (let next = children.get(head.id)?.at(-1); next; next = children.get(next.id)?.at(-1)) head = next;
    const path: Message[] = [];
    const seen = new Set<string>();
    for (
      let m: Message | undefined = head;
      m && !seen.has(m.id);
      m = m.parent_id ? this.messages.get(m.parent_id) : undefined
    ) {
      seen.add(m.id);
      path.push(m);
    }
    return path.reverse();
  }

  /**
   * Shows the sibling before (-1) or after (+1) the message `messageId` (its neighbour ids come with it from the
   * room): its branch becomes the active one, for every tab. Refused while a reply streams (the room refuses it too).
   */
  async switchBranch(messageId: string, step: -1 | 1): Promise<void> {
    const id = this.conversationId;
    const m = this.messages.get(messageId);
    if (!id || !m || this.isStreaming()) return;
    const target = step < 0 ? m.branch.previous_id : m.branch.next_id;
    if (!target) return;
    const before = this.headId;
    // A sibling held here is shown at once; any other once the room has switched and its page is read.
    if (this.messages.has(target)) {
      this.headId = target;
      this.headEpoch++;
      this.changed();
    }
    try {
      const { head_id } = await this.api.setHead(id, target);
      this.onHead(head_id);
    } catch (error) {
      if (this.headId === target) this.headId = before;
      if (isChatError(error, 'not_found')) this.markMissing();
      else if (!this.isSignedOut(error)) this.showError(error);
      this.changed();
    }
  }

  /**
   * Edits a user message (SPEC §9): `content` is sent beside it, as a new branch with its own reply. Returns why
   * it was refused, or null once it is on its way.
   */
  edit(messageId: string, content: string): SendRefusal | null {
    const m = this.messages.get(messageId);
    if (!m || m.role !== 'user') return 'empty';
    return this.start_(content, { editOf: messageId });
  }

  /** Asks for a new reply in place of `messageId` (an assistant reply on the active branch), as a new branch. */
  regenerate(messageId: string): SendRefusal | null {
    const m = this.messages.get(messageId);
    if (!m || m.role !== 'assistant' || !this.conversationId) return 'empty';
    if (this.isStreaming()) return 'busy';
    const send: PendingSend = {
      clientMessageId: crypto.randomUUID(),
      content: '',
      state: 'sending',
      error: null,
      regenerates: messageId,
    };
    this.pending.set(send.clientMessageId, send);
    this.notice = null;
    this.dispatch(send);
    this.changed();
    return null;
  }

  // ── tool approval (SPEC §9) ───────────────────────────────────────────────

  /**
   * Answers the approval `approvalId` that a reply asks for: the agent then goes on in that reply, which every tab
   * follows from the room's `message` frame and chunks. Over the socket when it is open (as sends are; a refusal is a
   * notice), else over HTTP: resolves with null once the room has the answer, or with why it was not taken
   * (`already_answered` when someone answered first, e.g. in another tab).
   */
  readonly approve = async (answer: ApprovalAnswer): Promise<{ code: string; message: string } | null> => {
    const id = this.conversationId;
    if (!id) return { code: 'not_found', message: 'This conversation is not saved yet.' };
    const body: ApprovalRequest = { approval_id: answer.approvalId, approved: answer.approved };
    if (answer.remember) body.remember = 'conversation';
    if (answer.reason) body.reason = answer.reason;
    this.notice = null;
    if (this.socket?.send({ type: 'approve', ...body })) return null;
    // The answer waits for the reply's end; meanwhile the poll finds it streaming and follows it over SSE.
    this.schedulePoll(POLL_STREAMING_MS);
    try {
      const result = await this.api.approve(id, body, this.aborts.signal);
      this.merge([result.reply]);
      this.changed();
      return null;
    } catch (error) {
      if (this.isSignedOut(error)) return { code: 'token_unavailable', message: 'Sign in again, then answer.' };
      void this.catchUp();
      return describe(error);
    }
  };

  // ── feedback (SPEC §9) ────────────────────────────────────────────────────

  /**
   * Rates the reply `messageId`: thumbs up or down with an optional comment, or null to remove the rating. Shown
   * here at once; every other tab gets the changed message from the room. Ratings of one reply are sent in order.
   */
  rate(messageId: string, feedback: Feedback | null): Promise<void> {
    const m = this.messages.get(messageId);
    if (!m || m.role !== 'assistant' || m.status === 'streaming') return Promise.resolve();
    this.feedbackShown.set(messageId, feedback);
    this.changed();
    const before = this.feedbackQueue.get(messageId) ?? Promise.resolve();
    const sent = before.then(() => this.sendFeedback(messageId, feedback));
    this.feedbackQueue.set(messageId, sent);
    return sent.finally(() => {
      if (this.feedbackQueue.get(messageId) === sent) this.feedbackQueue.delete(messageId);
      if (this.feedbackShown.get(messageId) === feedback) this.feedbackShown.delete(messageId);
      this.changed();
    });
  }

  private async sendFeedback(messageId: string, feedback: Feedback | null): Promise<void> {
    for (let attempt = 0; !this.disposed; attempt++) {
      try {
        if (feedback === null) {
          await this.api.clearFeedback(messageId);
          const m = this.messages.get(messageId);
          if (m) this.messages.set(messageId, { ...m, feedback: null });
        } else {
          const body = feedback.comment
            ? { rating: feedback.rating, comment: feedback.comment }
            : { rating: feedback.rating };
          this.merge([await this.api.setFeedback(messageId, body)]);
        }
        return;
      } catch (error) {
        if (isChatError(error, 'not_found') && attempt < FEEDBACK_RETRIES) {
          await new Promise((resolve) => setTimeout(resolve, FEEDBACK_RETRY_MS * (attempt + 1)));
          continue;
        }
        if (isChatError(error, 'not_found')) {
          this.setNotice(
            'not_found',
            'The rating was not saved: this reply is not stored yet. Try again shortly.',
            null,
          );
        } else if (!this.isSignedOut(error)) {
          this.showError(error);
        }
        return;
      }
    }
  }

  // ── chunks and messages ───────────────────────────────────────────────────

  private liveReply(messageId: string): LiveReply {
    let reply = this.live.get(messageId);
    if (!reply) {
      reply = new LiveReply(messageId, this.changed);
      this.live.set(messageId, reply);
    }
    return reply;
  }

  private applyChunk(messageId: string, index: number, chunk: Chunk): void {
    const committed = this.messages.get(messageId);
    if (committed && FINAL.has(committed.status)) return;
    const reply = this.liveReply(messageId);
    const outcome = reply.accept(index, chunk);
    if (outcome === 'gap') this.askResume(messageId, reply.nextIndex);
    if (outcome !== 'applied') return;
    this.resumeAsked.delete(messageId);
    if (chunk.type === 'start') this.onStartChunk(chunk);
    this.changed();
  }

  private onStartChunk(chunk: Chunk): void {
    const meta = chunk.messageMetadata;
    if (typeof meta !== 'object' || meta === null) return;
    const conversationId = 'conversation_id' in meta ? meta.conversation_id : undefined;
    if (typeof conversationId === 'string' && !this.conversationId) {
      this.conversationId = conversationId;
      this.events.created?.(conversationId);
      this.connect();
    }
  }

  private merge(incoming: readonly Message[]): void {
    for (const message of incoming) {
      const known = this.messages.get(message.id);
      if (known && isOlderCopy(message, known)) continue;
      this.messages.set(message.id, message);
      const mine = message.client_message_id ? this.pending.get(message.client_message_id) : undefined;
      if (mine && message.client_message_id) {
        // This tab's edit or regenerate has committed: its branch is the head (the room's head frame agrees).
        if (mine.editOf || mine.regenerates) this.headId = message.id;
        this.pending.delete(message.client_message_id);
      }
      // A reply that waits for an approval goes on once it is answered, its chunk indexes continuing: its chunks are
      // kept so the continuation's first one applies without a resume.
      if (FINAL.has(message.status) && !awaitsApproval(message.parts)) this.finishLive(message.id);
    }
    const newest = incoming.at(-1);
    if (newest && this.conversationId)
      this.events.activity?.(this.conversationId, newest.created_at, this.isStreaming());
  }

  private finishLive(messageId: string): void {
    const reply = this.live.get(messageId);
    if (!reply) return;
    reply.end();
    this.live.delete(messageId);
    this.resumeAsked.delete(messageId);
  }

  private maxSeq(): number {
    let max = 0;
    for (const m of this.messages.values()) max = Math.max(max, m.seq);
    return max;
  }

  /**
   * Everything from the oldest message that may have changed: the first streaming one or one awaiting an approval
   * (answered from another tab, it goes on), or the newest.
   */
  private async fetchNewer(): Promise<void> {
    const id = this.conversationId;
    if (!id) return;
    const streaming = [...this.messages.values()]
      .filter((m) => m.status === 'streaming' || awaitsApproval(m.parts))
      .map((m) => m.seq);
    const after = streaming.length ? Math.min(...streaming) - 1 : this.maxSeq();
    const page = await this.api.messages(id, { after_seq: after, limit: 200 });
    this.merge(page.messages);
    this.changed();
    if (page.has_more) await this.fetchNewer();
  }

  private async catchUp(): Promise<void> {
    try {
      await this.fetchNewer();
    } catch (error) {
      if (isChatError(error, 'not_found')) this.markMissing();
      else this.isSignedOut(error);
    }
  }

  async loadOlder(): Promise<void> {
    const id = this.conversationId;
    if (!id || !this.hasOlder || this.loadingOlder) return;
    const oldest = this.activePath()[0]?.seq;
    if (oldest === undefined) return;
    this.loadingOlder = true;
    this.changed();
    try {
      const page = await this.api.messages(id, { before_seq: oldest, limit: PAGE });
      this.merge(page.messages);
      this.hasOlder = page.has_more;
    } catch (error) {
      this.showError(error);
    } finally {
      this.loadingOlder = false;
      this.changed();
    }
  }

  // ── sending ───────────────────────────────────────────────────────────────

  isStreaming(): boolean {
    for (const m of this.messages.values()) if (m.status === 'streaming') return true;
    for (const id of this.live.keys()) if (!this.messages.has(id)) return true;
    for (const send of this.pending.values()) if (send.state === 'sending') return true;
    return false;
  }

  /** Returns why a send was refused, or null once it is on its way. */
  send(content: string): SendRefusal | null {
    return this.start_(content, {});
  }

  private start_(content: string, how: { editOf?: string }): SendRefusal | null {
    if (content.trim().length === 0) return 'empty';
    if (codePointLength(content) > MAX_CONTENT_CODE_POINTS) return 'too_long';
    if (this.isStreaming()) return 'busy';
    const send: PendingSend = { clientMessageId: crypto.randomUUID(), content, state: 'sending', error: null, ...how };
    this.pending.set(send.clientMessageId, send);
    this.notice = null;
    this.dispatch(send);
    this.changed();
    return null;
  }

  /** Sends the same message again: after a failed send, the same id (idempotent); after a failed reply, anew. */
  retry(item: ChatItem): void {
    if (this.isStreaming()) return;
    if (item.status === 'failed' && item.clientMessageId) {
      const send = this.pending.get(item.clientMessageId);
      if (!send) return;
      send.state = 'sending';
      send.error = null;
      this.notice = null;
      this.dispatch(send);
      this.changed();
      return;
    }
    const question = this.questionFor(item);
    if (question) this.send(question);
  }

  /**
   * Drops a send that failed (a message, an edit, a regenerate) instead of retrying it: an edit's or a regenerate's
   * branch shows again what it was to replace.
   */
  dismiss(item: ChatItem): void {
    const send = item.clientMessageId ? this.pending.get(item.clientMessageId) : undefined;
    if (!send || send.state !== 'failed') return;
    this.pending.delete(send.clientMessageId);
    this.notice = null;
    this.changed();
  }

  private questionFor(item: ChatItem): string | null {
    if (!item.id) return null;
    const reply = this.messages.get(item.id);
    const asked = reply?.reply_to ? this.messages.get(reply.reply_to) : undefined;
    return asked?.content ?? null;
  }

  private sendFrame(send: PendingSend): ClientFrame {
    if (send.regenerates) {
      return { type: 'regenerate', message_id: send.regenerates, client_message_id: send.clientMessageId };
    }
    const frame = { type: 'send', content: send.content, client_message_id: send.clientMessageId } as const;
    return send.editOf ? { ...frame, edit_of: send.editOf } : frame;
  }

  private dispatch(send: PendingSend): void {
    if (this.socket?.send(this.sendFrame(send))) return;
    if (send.regenerates) {
      void this.regenerateSse(send, send.regenerates);
      return;
    }
    const body: SendBody = { content: send.content, client_message_id: send.clientMessageId };
    if (this.conversationId) body.conversation_id = this.conversationId;
    if (send.editOf) body.edit_of = send.editOf;
    if (this.sseBroken && this.conversationId) void this.sendJson(send, body);
    else void this.sendSse(send, body);
  }

  private async sendSse(send: PendingSend, body: SendBody): Promise<void> {
    let res: Response;
    try {
      res = await this.api.sendStream(body, this.aborts.signal);
    } catch (error) {
      if (!isChatError(error, 'network') || this.aborts.signal.aborted) {
        return this.sendFailed(send, error);
      }
      // SSE does not get through either; the same client_message_id makes sending again safe.
      this.breakSse();
      if (!this.fallback) this.enterFallback();
      return this.sendJson(send, body);
    }
    send.state = 'accepted';
    this.changed();
    await this.followSse(res, null);
  }

  private async regenerateSse(send: PendingSend, replaces: string): Promise<void> {
    const id = this.conversationId;
    if (!id) return;
    const body = { message_id: replaces, client_message_id: send.clientMessageId };
    if (this.sseBroken) return this.regenerateJson(send, id, body);
    let res: Response;
    try {
      res = await this.api.regenerateStream(id, body, this.aborts.signal);
    } catch (error) {
      if (!isChatError(error, 'network') || this.aborts.signal.aborted) return this.sendFailed(send, error);
      this.breakSse();
      if (!this.fallback) this.enterFallback();
      return this.regenerateJson(send, id, body);
    }
    send.state = 'accepted';
    this.changed();
    await this.followSse(res, null);
  }

  private async regenerateJson(
    send: PendingSend,
    id: string,
    body: { message_id: string; client_message_id: string },
  ): Promise<void> {
    this.schedulePoll(POLL_STREAMING_MS);
    try {
      const result = await this.api.regenerate(id, body, this.aborts.signal);
      this.merge([result.reply]);
      this.onHead(result.conversation.head_id);
      this.changed();
    } catch (error) {
      this.sendFailed(send, error);
    }
  }

  private async sendJson(send: PendingSend, body: SendBody): Promise<void> {
    this.schedulePoll(POLL_STREAMING_MS);
    try {
      const result = await this.api.send(body, this.aborts.signal);
      if (!this.conversationId) {
        this.conversationId = result.conversation.id;
        this.events.created?.(result.conversation.id);
      }
      this.merge([result.message, result.reply]);
      this.onHead(result.conversation.head_id);
      this.changed();
    } catch (error) {
      this.sendFailed(send, error);
    }
  }

  private sendFailed(send: PendingSend, error: unknown): void {
    if (this.disposed) return;
    if (this.isSignedOut(error)) {
      this.failSend(send.clientMessageId, 'token_unavailable', 'Not sent: sign in again, then retry.');
      return;
    }
    const { code, message, retryAfter } = describe(error);
    this.failSend(send.clientMessageId, code, message);
    this.setNotice(code, message, retryAfter);
  }

  private failSend(clientMessageId: string, code: string, message: string): void {
    const send = this.pending.get(clientMessageId);
    if (!send) return;
    send.state = 'failed';
    send.error = { code, message };
    this.changed();
  }

  /** Stops the reply that streams now; its partial text is kept with status stopped. */
  async stop(): Promise<void> {
    if (this.socket?.send({ type: 'stop' })) return;
    const id = this.conversationId;
    if (!id) return;
    try {
      await this.api.stop(id);
      void this.catchUp();
    } catch (error) {
      this.showError(error);
    }
  }

  // ── SSE and polling ───────────────────────────────────────────────────────

  /** Reads a reply stream to its end; a dropped stream is resumed from its last event id. */
  private async followSse(first: Response | null, lastEventId: string | null): Promise<void> {
    let res = first;
    let lastId = lastEventId;
    let following: string | null = null;
    for (let attempt = 0; attempt <= SSE_RESUME_ATTEMPTS && !this.disposed; attempt++) {
      if (!res) res = await this.openStream(lastId);
      if (!res) break;
      try {
        for await (const event of readReplyEvents(res)) {
          if (event.done) {
            await this.catchUp();
            return this.stopFollowing(following);
          }
          following ??= event.messageId;
          this.sseFollowing.add(event.messageId);
          lastId = event.id;
          attempt = 0;
          this.applyChunk(event.messageId, event.index, event.chunk);
        }
      } catch {
        // A dropped stream: resumed below from the last event id.
      }
      res = null;
      if (!this.conversationId) break;
    }
    this.stopFollowing(following);
    await this.catchUp();
  }

  private stopFollowing(messageId: string | null): void {
    if (messageId) this.sseFollowing.delete(messageId);
    this.changed();
  }

  private async openStream(lastEventId: string | null): Promise<Response | null> {
    const id = this.conversationId;
    if (!id || this.sseBroken) return null;
    try {
      return await this.api.stream(id, lastEventId, this.aborts.signal);
    } catch (error) {
      if (isChatError(error, 'network')) this.setLink('offline');
      else if (this.isSignedOut(error)) return null;
      else if (!this.aborts.signal.aborted) this.breakSse();
      return null;
    }
  }

  private breakSse(): void {
    this.sseBroken = true;
    if (this.fallback) this.setLink('polling');
  }

  private schedulePoll(delay: number): void {
    clearTimeout(this.pollTimer);
    if (this.disposed || this.missing || this.signedOut) return;
    this.pollTimer = setTimeout(() => void this.poll(), delay);
  }

  /**
   * The fallback's heartbeat: new messages, replies streaming elsewhere, the text so far when SSE fails, and the
   * conversation itself, whose head_id is how a switch of branch in another tab reaches a tab with no socket.
   */
  private async poll(): Promise<void> {
    if (!this.fallback && this.socket) return;
    try {
      await this.fetchNewer();
      if (this.conversationId) {
        this.conversation = await this.api.getConversation(this.conversationId);
        this.onHead(this.conversation.head_id);
      }
      if (this.fallback) this.setLink(this.sseBroken ? 'polling' : 'sse');
    } catch (error) {
      if (isChatError(error, 'not_found')) return this.markMissing();
      if (this.isSignedOut(error)) return;
      if (isChatError(error, 'network')) this.setLink('offline');
    }
    this.followStreamingOverSse();
    if (this.fallback || !this.socket) this.schedulePoll(this.isStreaming() ? POLL_STREAMING_MS : POLL_IDLE_MS);
  }

  private followStreamingOverSse(): void {
    if (this.sseBroken) return;
    for (const m of this.messages.values()) {
      if (m.status !== 'streaming' || this.sseFollowing.has(m.id)) continue;
      this.sseFollowing.add(m.id);
      const reply = this.live.get(m.id);
      const lastId = reply && reply.nextIndex > 0 ? `${m.id}:${reply.nextIndex - 1}` : null;
      void this.followSse(null, lastId).finally(() => this.sseFollowing.delete(m.id));
    }
  }

  // ── notices ───────────────────────────────────────────────────────────────

  private showError(error: unknown): void {
    const { code, message, retryAfter } = describe(error);
    this.setNotice(code, message, retryAfter);
  }

  private setNotice(code: string, message: string, retryAfter: number | null): void {
    this.notice = { code, message, retryAt: retryAfter === null ? null : Date.now() + retryAfter * 1000 };
    this.changed();
  }

  dismissNotice(): void {
    this.notice = null;
    this.changed();
  }

  // ── snapshot ──────────────────────────────────────────────────────────────

  private build(): ChatSnapshot {
    let path = this.activePath();
    // An edit or a regenerate in flight takes the place of what it replaces, and of everything after it.
    for (const send of this.pending.values()) {
      const replaced = send.editOf ?? send.regenerates;
      const at = replaced ? path.findIndex((m) => m.id === replaced) : -1;
      if (at >= 0) path = path.slice(0, at);
    }
    const items: ChatItem[] = path.map((m) => this.withFeedbackShown(this.itemFor(m)));
    const onPath = new Set(path.map((m) => m.id));
    for (const send of this.pending.values()) {
      const status = send.state === 'failed' ? 'failed' : send.state === 'sending' ? 'sending' : 'complete';
      if (send.regenerates) {
        // Once the room has taken it, the reply's own item shows it (from its chunks, then its row).
        if (send.state === 'accepted') continue;
        items.push({
          key: send.clientMessageId,
          id: null,
          role: 'assistant',
          parts: [],
          text: '',
          status: status === 'failed' ? 'failed' : 'streaming',
          error: send.error,
          clientMessageId: send.clientMessageId,
          parentId: null,
          branch: null,
          feedback: null,
        });
        continue;
      }
      items.push({
        key: send.clientMessageId,
        id: null,
        role: 'user',
        parts: [{ type: 'text', text: send.content }],
        text: send.content,
        status,
        error: send.error,
        clientMessageId: send.clientMessageId,
        parentId: null,
        branch: null,
        feedback: null,
      });
    }
    // Replies known only from their chunks so far (an SSE send before its rows are fetched).
    for (const reply of this.live.values()) {
      if (this.messages.has(reply.messageId) || onPath.has(reply.messageId)) continue;
      items.push({
        key: reply.messageId,
        id: reply.messageId,
        role: 'assistant',
        parts: reply.parts,
        text: plainText(reply.parts),
        status: 'streaming',
        error: null,
        clientMessageId: null,
        parentId: null,
        branch: null,
        feedback: null,
      });
    }
    return {
      conversationId: this.conversationId,
      conversation: this.conversation,
      items,
      historyLoaded: this.historyLoaded,
      hasOlder: this.hasOlder,
      loadingOlder: this.loadingOlder,
      streaming: this.isStreaming(),
      link: this.link,
      notice: this.notice,
      missing: this.missing,
      signedOut: this.signedOut,
    };
  }

  private withFeedbackShown(item: ChatItem): ChatItem {
    if (!item.id || !this.feedbackShown.has(item.id)) return item;
    return { ...item, feedback: this.feedbackShown.get(item.id) ?? null };
  }

  /** Items of unchanged messages are reused, so React skips them while one reply streams. */
  private readonly itemCache = new WeakMap<Message, ChatItem>();

  private itemFor(m: Message): ChatItem {
    const reply = m.status === 'streaming' ? this.live.get(m.id) : undefined;
    if (!reply) {
      const cached = this.itemCache.get(m);
      if (cached) return cached;
      const item = this.buildItem(m, undefined);
      this.itemCache.set(m, item);
      return item;
    }
    return this.buildItem(m, reply);
  }

  private buildItem(m: Message, reply: LiveReply | undefined): ChatItem {
    // A continuation read from chunk 0 (SPEC §9) rebuilds parts the row already has: the row shows until it catches
    // up, so the tool call is not unmounted meanwhile (and a focus on it not lost).
    const live = reply && reply.nextIndex > 0 && reply.parts.length >= m.parts.length ? reply : undefined;
    const parts = live ? carryAnswers(live.parts, m.parts) : this.partsOf(m);
    const failure = m.metadata.error;
    const error =
      m.status === 'error'
        ? {
            code: typeof failure === 'object' && failure && 'code' in failure ? String(failure.code) : 'agent_error',
            message:
              typeof failure === 'object' && failure && 'message' in failure
                ? String(failure.message)
                : 'The agent could not finish this reply.',
          }
        : null;
    return {
      key: m.role === 'user' ? (m.client_message_id ?? m.id) : m.id,
      id: m.id,
      role: m.role,
      parts,
      text: live ? plainText(live.parts) : m.content,
      status: m.status,
      error,
      clientMessageId: m.client_message_id,
      parentId: m.parent_id,
      branch: m.branch,
      feedback: m.feedback,
    };
  }

  private partsOf(m: Message): readonly MessagePart[] {
    if (m.parts.length > 0) return m.parts;
    return m.content ? [{ type: 'text', text: m.content }] : [];
  }
}
