import { DurableObject } from 'cloudflare:workers';
import type { UIMessage } from 'ai';
import { AgentError, type AgentProgress, streamAgent } from '../agentcore/bridge';
import { assertFitsHistory } from '../agentcore/history';
import { type Config, loadConfig } from '../config';
import { bounded } from '../db/client';
import { ApiError, errorResponse, toApiError } from '../errors';
import { parseFrame } from '../http';
import { log, setLogLevel } from '../log';
import {
  type Chunk,
  type ClientFrame,
  type Conversation,
  type ConversationChange,
  type ErrorCode,
  MAX_FRAME_BYTES,
  type Message,
  type PageQuery,
  PING_FRAME,
  PONG_FRAME,
  type SendMessage,
  type ServerFrame,
} from '../wire';
import { Outbox } from './outbox';
import { type Bucket, take } from './rate-limit';
import { plainText, ReplyStream } from './reply-stream';
import { liveResponse, replayResponse, resumeIndex, SSE_HEADERS, startChunk } from './sse';
import { type ConversationRecord, type ResumePoint, RoomStore, toWireConversation } from './store';
import { titleFromContent } from './title';

/**
 * A send as the edge has checked it (`SendMessageBody`), addressed to this room's conversation; `create` when
 * there was no conversation_id (the conversation is made if it does not exist yet), and the edge's request id.
 */
export type SendInput = SendMessage & { conversation_id: string; create?: boolean; request_id?: string };

/** What crosses the RPC boundary: an ApiError loses its class there, so it travels as data. */
export type RoomResult<T> =
  | { ok: true; value: T }
  | { ok: false; error: { code: ErrorCode; message: string; retryAfter?: number | undefined } };

async function guard<T>(fn: () => T | Promise<T>): Promise<RoomResult<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    const e = toApiError(err, { where: 'room' });
    return { ok: false, error: { code: e.code, message: e.message, retryAfter: e.retryAfter } };
  }
}

interface SocketAttachment {
  userId: string;
  connectedAt: number;
}

/** How often, at most, the room looks for sockets that stopped pinging (WS_PING_TIMEOUT_SECONDS). */
const SOCKET_SWEEP_MS = 60_000;
/**
 * How often the chunks of a reply in flight are written down: a restart loses at most this much of the
 * text. Each write is a storage commit that holds workerd up for a disk sync locally (~2 ms here); at 100 ms
 * one chunk in fifty waited behind one and relay p99 was 3–3.9 ms, at 250 ms it is 0.8–1.8 ms (bench/chat.ts).
 */
const CHUNK_BATCH_MS = 250;
/** How long the start of a reply may wait for Postgres when the reply itself runs longer. */
const OUTBOX_DELAY_MS = 2_000;
/** How long an answer waits for Postgres to catch up with it (catchUp). */
const CATCH_UP_MS = 1_000;
/**
 * While a reply streams the room re-arms its alarm this often. A plain fetch() does not keep a Durable Object in
 * memory, even while its body streams; with no request, socket message or alarm for 70–140 s it is evicted, and a
 * reply no client is watching (a JSON send whose caller left, every tab closed) would die with it. After a restart
 * the same alarm wakes the room, which resumes the reply.
 */
const HEARTBEAT_MS = 30_000;
/** A send drawn in advance is spent only this long before the quota would take it back (clocks may differ). */
const ADVANCE_MARGIN_MS = 5_000;

/**
 * One conversation: its only writer. It checks ownership, numbers messages, commits them to its own
 * storage before anything else, runs the agent, fans chunks out to every socket and stream, and flushes
 * to Postgres through the outbox.
 */
export class ConversationRoom extends DurableObject<Env> {
  private store: RoomStore;
  private readonly outbox: Outbox;
  private stream: ReplyStream | null = null;
  /** Set while a send is between its checks and its commit, so a second one waits or is refused. */
  private starting: Promise<unknown> | null = null;
  private readonly pendingByClientId = new Map<string, Promise<unknown>>();
  /** Settles with each reply in flight's final message (null when its conversation was deleted). */
  private readonly replyDone = new Map<string, Promise<Message | null>>();
  /** The conversation's send allowance; the user's is in the UserQuota object. */
  private bucket: Bucket | null = null;
  /**
   * Until when the room holds a send drawn in advance from the user's quota (in memory only); a count of
   * admissions, so a late answer from the quota does not hand out an advance a later send has already replaced;
   * and the last report of a spent advance.
   */
  private advanceUntil: number | null = null;
  private advanceAsked = 0;
  private advanceReport: Promise<void> | null = null;
  /** The pending batch write of in-flight chunks, and how many of them are kept already. */
  private chunkWriter: ReturnType<typeof setTimeout> | null = null;
  private keptUpTo = 0;
  /**
   * For the reply in flight: whether its agent resumes, and for each chunk how many of the agent's chunks had been
   * read when it was relayed; kept with the chunks, so a restart knows where to ask the agent to go on from.
   */
  private agentProgress: AgentProgress = { resumable: false, agentChunks: 0 };
  private agentChunksAt: number[] = [];
  /** The agent's view of the conversation (agentHistory), null until a send first needs it. */
  private agentView: UIMessage[] | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new RoomStore(ctx.storage);
    this.outbox = new Outbox(
      () => this.store,
      () => this.config,
    );
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
    ctx.blockConcurrencyWhile(() => this.recover());
  }

  private get config(): Config {
    const config = loadConfig(this.env);
    setLogLevel(config.LOG_LEVEL);
    return config;
  }

  // ---------------------------------------------------------------- conversation

  create(userId: string, id: string, title: string | undefined): Promise<RoomResult<Conversation>> {
    return guard(() => this.createConversation(userId, id, title));
  }

  get(userId: string): Promise<RoomResult<Conversation>> {
    return guard(() => this.wire(this.owned(userId)));
  }

  /** Rename, pin or archive (PATCH). */
  update(userId: string, change: ConversationChange): Promise<RoomResult<Conversation>> {
    return guard(() => this.updateConversation(userId, change));
  }

  remove(userId: string): Promise<RoomResult<null>> {
    return guard(() => this.removeConversation(userId));
  }

  history(userId: string, q: PageQuery): Promise<RoomResult<{ messages: Message[]; has_more: boolean }>> {
    return guard(() => this.page(userId, q));
  }

  stop(userId: string): Promise<RoomResult<{ stopped: boolean }>> {
    return guard(() => this.stopReply(userId));
  }

  ticket(userId: string): Promise<RoomResult<{ ticket: string; expires_in: number }>> {
    return guard(() => this.newTicket(userId));
  }

  /** JSON send: answers when the reply has ended. */
  send(
    userId: string,
    input: SendInput,
  ): Promise<RoomResult<{ conversation: Conversation; message: Message; reply: Message }>> {
    return guard(() => this.sendAndWait(userId, input));
  }

  private async createConversation(userId: string, id: string, title: string | undefined): Promise<Conversation> {
    const existing = this.store.conversation();
    if (existing) {
      if (existing.userId !== userId) throw notFound();
      return this.wire(existing);
    }
    const now = new Date().toISOString();
    const record: ConversationRecord = {
      id,
      userId,
      title: title ?? 'New chat',
      titleSource: title ? 'user' : 'default',
      createdAt: now,
      updatedAt: now,
      lastMessageAt: now,
      messageCount: 0,
      metadata: {},
      pinned: false,
      archived: false,
    };
    this.store.markLive();
    this.store.saveConversation(record);
    this.store.enqueue(null);
    await this.catchUp();
    return this.wire(record);
  }

  private async updateConversation(userId: string, change: ConversationChange): Promise<Conversation> {
    const c = this.owned(userId);
    const next: ConversationRecord = {
      ...c,
      ...(change.title === undefined ? {} : { title: change.title, titleSource: 'user' as const }),
      pinned: change.pinned ?? c.pinned,
      archived: change.archived ?? c.archived,
      updatedAt: new Date().toISOString(),
    };
    this.store.saveConversation(next);
    this.store.enqueue(null);
    const conversation = this.wire(next);
    this.broadcast({ type: 'conversation', conversation });
    await this.catchUp();
    return conversation;
  }

  private async removeConversation(userId: string): Promise<null> {
    const c = this.owned(userId);
    this.stream?.abort.abort(new DeletedError());
    const frame = JSON.stringify({ type: 'deleted' } satisfies ServerFrame);
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.send(frame);
        ws.close(4404, 'conversation deleted');
      } catch {
        // Already closing: nothing more to tell it.
      }
    }
    this.store.markDeleted(c.id);
    this.agentView = null;
    // The alarm is set before the flush is tried: a restart in between still finds the delete owed and carried out.
    await this.scheduleAlarm(CATCH_UP_MS);
    // Like catchUp: a hung Postgres must not hold the answer; the alarm finishes what the flush could not.
    const result = await bounded(CATCH_UP_MS, () => this.outbox.flush()).catch(() => null);
    if (!result?.ok) {
      await this.scheduleAlarm(result?.retryInMs ?? CATCH_UP_MS);
    } else if (this.store.isForgettable()) {
      // Not when a send has made the conversation again meanwhile (same derived id): that one stays.
      await this.forget();
    }
    return null;
  }

  private async page(userId: string, q: PageQuery) {
    const c = this.owned(userId);
    const page = this.store.page(c.id, q);
    return { ...page, messages: await Promise.all(page.messages.map((m) => this.withLiveText(m))) };
  }

  private async stopReply(userId: string): Promise<{ stopped: boolean }> {
    this.owned(userId);
    const stream = this.stream;
    if (!stream || stream.isEnded) return { stopped: false };
    const done = this.replyDone.get(stream.messageId);
    stream.abort.abort(new StopError());
    await done;
    return { stopped: true };
  }

  private newTicket(userId: string): { ticket: string; expires_in: number } {
    this.owned(userId);
    const ttl = this.config.WS_TICKET_TTL_SECONDS;
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    const secret = btoa(String.fromCharCode(...bytes))
      .replaceAll('+', '-')
      .replaceAll('/', '_')
      .replace(/=+$/, '');
    // The ticket names its room, so an attempt on any conversation reaches the room that can use it up.
    const ticket = `${this.owned(userId).id}.${secret}`;
    this.store.addTicket(ticket, userId, Date.now() + ttl * 1000);
    return { ticket, expires_in: ttl };
  }

  // ---------------------------------------------------------------- sending

  private async sendAndWait(userId: string, input: SendInput) {
    const { user, reply } = await this.accept(userId, input);
    const final = reply.status === 'streaming' ? await this.replyDone.get(reply.id) : reply;
    // What this send spent of the user's quota is known there before it answers (the tests count on it).
    await this.advanceReport;
    await this.catchUp();
    const c = this.owned(userId);
    return { conversation: this.wire(c), message: user, reply: final ?? this.store.message(c.id, reply.id) ?? reply };
  }

  /** SSE send: the reply as a UI message stream, live while it is in flight. */
  async sendStream(userId: string, input: SendInput): Promise<Response> {
    try {
      return await this.sendStreaming(userId, input);
    } catch (err) {
      return errorResponse(err, { request_id: input.request_id });
    }
  }

  /** SSE resume: the reply in flight from after `lastEventId`, or 204 when none is. */
  async attachStream(userId: string, lastEventId: string | null): Promise<Response> {
    try {
      return this.attach(userId, lastEventId);
    } catch (err) {
      return errorResponse(err);
    }
  }

  /** Internal HTTP for what RPC cannot carry: the WebSocket upgrade. */
  override async fetch(request: Request): Promise<Response> {
    try {
      const url = new URL(request.url);
      if (url.pathname !== '/ws') throw notFound();
      const userId = request.headers.get('x-user-id');
      return this.upgrade(request, userId, url.searchParams.get('ticket'), url.searchParams.get('conversation'));
    } catch (err) {
      return errorResponse(err);
    }
  }

  private async sendStreaming(userId: string, input: SendInput): Promise<Response> {
    const { user, reply } = await this.accept(userId, input);
    if (this.stream?.messageId === reply.id) return liveResponse(this.stream, 0);
    return replayResponse(this.store.message(user.conversation_id, reply.id) ?? reply, user.id);
  }

  private attach(userId: string, lastEventId: string | null): Response {
    this.owned(userId);
    const stream = this.stream;
    if (!stream || stream.isEnded) return new Response(null, { status: 204, headers: SSE_HEADERS });
    return liveResponse(stream, resumeIndex(lastEventId, stream.messageId));
  }

  /**
   * Checks and commits a send: ownership, idempotency, one reply at a time, rate limits; then the user
   * message and the reply's first row, and starts the agent. A retry with the same client_message_id
   * returns what the first one made and calls nothing.
   */
  private async accept(userId: string, input: SendInput): Promise<{ user: Message; reply: Message }> {
    const key = input.client_message_id;
    const pending = key ? this.pendingByClientId.get(key) : undefined;
    if (pending) await pending.catch(() => undefined);
    const c = this.store.conversation();
    if (c && c.userId !== userId) throw notFound();
    if (c && key) {
      const earlier = this.store.messageByClientId(c.id, key);
      if (earlier) return this.repeat(c, earlier, input.content);
    }
    if (!c && !input.create) throw notFound();
    if (this.starting || (this.stream && !this.stream.isEnded)) {
      throw new ApiError('reply_in_progress', 'a reply is still streaming in this conversation; stop it or wait');
    }
    assertFitsHistory(this.config, input.content);
    const checks = this.admit(userId);
    this.starting = checks;
    if (key) this.pendingByClientId.set(key, checks);
    let spentAdvance: boolean;
    try {
      spentAdvance = await checks;
    } finally {
      this.starting = null;
      if (key) this.pendingByClientId.delete(key);
    }
    const existing = this.store.conversation();
    const made = this.commit(existing ?? this.newConversation(userId, input), input, !existing);
    // Reported when the reply has ended: off the path of its first chunks, and before the next send can start.
    if (spentAdvance) void this.replyDone.get(made.reply.id)?.finally(() => this.reportSpent(userId));
    return made;
  }

  private async repeat(
    c: ConversationRecord,
    earlier: Message,
    content: string,
  ): Promise<{ user: Message; reply: Message }> {
    if (earlier.content !== content) {
      throw new ApiError('idempotency_mismatch', 'this client_message_id was already used with other content');
    }
    const reply = this.store.replyTo(c.id, earlier.id);
    if (!reply) throw new ApiError('internal', 'reply missing');
    return { user: earlier, reply: await this.withLiveText(reply) };
  }

  /**
   * The conversation's bucket, then the user's across conversations; a refusal gives the token back. The user's
   * send is one the room drew in advance when it has one (UserQuota), so most sends do not wait for the quota.
   * Returns whether it spent that advance: the quota is told once the reply has ended.
   */
  private async admit(userId: string): Promise<boolean> {
    const config = this.config;
    const policy = {
      perMinute: config.RATE_LIMIT_CONVERSATION_PER_MINUTE,
      burst: config.RATE_LIMIT_CONVERSATION_BURST,
    };
    const mine = take(this.bucket, policy, Date.now());
    if (!mine.ok) throw rateLimited(mine.retryAfter);
    this.bucket = mine.bucket;
    const advance = this.advanceUntil;
    this.advanceUntil = null;
    this.advanceAsked++;
    if (advance !== null && Date.now() < advance - ADVANCE_MARGIN_MS) return true;
    const grant = await this.quota(userId).take(this.ctx.id.toString());
    if (grant.wait !== null) {
      const now = this.bucket ?? mine.bucket;
      this.bucket = { ...now, tokens: Math.min(policy.burst, now.tokens + 1) };
      throw rateLimited(grant.wait);
    }
    this.advanceUntil = grant.advanceUntil;
    return false;
  }

  /** Tells the quota a send spent the room's advance, and keeps the next one it draws (unless asked again since). */
  private reportSpent(userId: string): void {
    const asked = this.advanceAsked;
    const report = this.quota(userId)
      .spent(this.ctx.id.toString())
      .then((grant) => {
        if (this.advanceAsked === asked) this.advanceUntil = grant.advanceUntil;
      })
      .catch(() => undefined);
    this.advanceReport = report;
    this.ctx.waitUntil(report);
  }

  private quota(userId: string) {
    return this.env.QUOTAS.get(this.env.QUOTAS.idFromName(userId));
  }

  private newConversation(userId: string, input: SendInput): ConversationRecord {
    const now = new Date().toISOString();
    return {
      id: input.conversation_id,
      userId,
      title: 'New chat',
      titleSource: 'default',
      createdAt: now,
      updatedAt: now,
      lastMessageAt: now,
      messageCount: 0,
      metadata: {},
      pinned: false,
      archived: false,
    };
  }

  private commit(c: ConversationRecord, input: SendInput, fresh: boolean): { user: Message; reply: Message } {
    const now = new Date().toISOString();
    const seq = this.store.lastSeq();
    const user: Message = {
      id: crypto.randomUUID(),
      conversation_id: c.id,
      seq: seq + 1,
      role: 'user',
      content: input.content,
      parts: [{ type: 'text', text: input.content }],
      status: 'complete',
      reply_to: null,
      client_message_id: input.client_message_id ?? null,
      created_at: now,
      metadata: {},
    };
    const reply: Message = {
      id: crypto.randomUUID(),
      conversation_id: c.id,
      seq: seq + 2,
      role: 'assistant',
      content: '',
      parts: [],
      status: 'streaming',
      reply_to: user.id,
      client_message_id: null,
      created_at: now,
      metadata: {},
    };
    const autoTitle = c.titleSource === 'default' ? titleFromContent(input.content) : null;
    const next: ConversationRecord = {
      ...c,
      title: autoTitle ?? c.title,
      titleSource: autoTitle ? 'auto' : c.titleSource,
      updatedAt: now,
      lastMessageAt: now,
      messageCount: c.messageCount + 2,
      metadata: { ...c.metadata, streaming: true },
    };
    // One storage commit per send: the bucket is kept with the messages it admitted. The agent call and every
    // frame wait for it (the output gate); locally it holds workerd up ~0.5 ms, measured by sends with and
    // without these writes taking turns in one stack (bench/chat.ts figures, session 4).
    this.store.transaction(() => {
      if (fresh) this.store.markLive();
      if (this.bucket) this.store.keepSendBucket(this.bucket);
      this.store.saveConversation(next);
      this.store.saveMessage(user);
      this.store.saveMessage(reply);
      this.store.enqueue(user.id);
      this.store.enqueue(reply.id);
    });
    this.remember(user);
    const stream = new ReplyStream(reply.id);
    this.stream = stream;
    for (const ws of this.ctx.getWebSockets()) this.follow(ws, stream, 0);
    this.broadcast({ type: 'message', message: user });
    this.broadcast({ type: 'message', message: reply });
    this.keptUpTo = 0;
    this.agentProgress = { resumable: false, agentChunks: 0 };
    this.agentChunksAt = [];
    this.relay(stream, startChunk(reply.id, c.id, user.id));
    const done = this.run(next, user, reply, stream, { requestId: input.request_id });
    this.replyDone.set(reply.id, done);
    this.ctx.waitUntil(done);
    // Postgres is written when the reply ends, and a long reply's start a little after it began: off the
    // path of the first chunks. A timer, not the alarm: setting an alarm is a storage write, and the output
    // gate would hold the first chunks until it is durable. A restart re-arms the outbox from storage.
    const early = setTimeout(() => this.kickOutbox(), OUTBOX_DELAY_MS);
    done.finally(() => clearTimeout(early));
    return { user, reply };
  }

  /** Runs the agent for one reply and ends it as complete, stopped or error; never throws. */
  private async run(
    c: ConversationRecord,
    user: Message,
    reply: Message,
    stream: ReplyStream,
    { resumeFrom, requestId }: { resumeFrom?: number; requestId?: string | undefined } = {},
  ): Promise<Message | null> {
    const config = this.config;
    const started = Date.now();
    let ttft: number | undefined;
    // A resumed reply's metadata so far is in the chunks it kept.
    let agentMetadata: Record<string, unknown> = {};
    for (const { chunk } of stream.chunks) {
      if (chunk.type === 'message-metadata' && isRecord(chunk.messageMetadata)) {
        agentMetadata = { ...agentMetadata, ...chunk.messageMetadata };
      }
    }
    let status: Message['status'] = 'complete';
    let failure: { code: string; message: string } | undefined;
    const progress = this.agentProgress;
    try {
      const turn = {
        conversationId: c.id,
        userId: c.userId,
        messageId: reply.id,
        messages: this.agentHistory(c, user),
        resumeFrom,
        requestId,
        progress,
      };
      for await (const chunk of streamAgent(config, turn, stream.abort.signal)) {
        ttft ??= Date.now() - started;
        if (chunk.type === 'message-metadata' && isRecord(chunk.messageMetadata)) {
          agentMetadata = { ...agentMetadata, ...chunk.messageMetadata };
        }
        this.relay(stream, chunk as Chunk);
        this.agentChunksAt[stream.size - 1] = progress.agentChunks;
      }
    } catch (err) {
      if (stream.abort.signal.reason instanceof DeletedError) {
        // Readers of its SSE stream see it end as stopped (SPEC §5), not cut off: the sockets are closed already.
        stream.push({ type: 'abort' });
        await stream.end();
        this.stream = null;
        this.replyDone.delete(reply.id);
        return null;
      }
      if (stream.abort.signal.aborted) {
        status = 'stopped';
      } else {
        status = 'error';
        // The bridge has logged it, with the request id. A resume the agent refused leaves the reply as before.
        failure =
          resumeFrom !== undefined && ttft === undefined
            ? {
                code: 'interrupted',
                message: `the reply was interrupted by a restart: ${describeFailure(err).message}`,
              }
            : describeFailure(err);
      }
    }
    const terminal: Chunk =
      status === 'complete'
        ? { type: 'finish' }
        : status === 'stopped'
          ? { type: 'abort' }
          : { type: 'error', errorText: failure?.message ?? 'the agent failed' };
    this.relay(stream, terminal);
    if (this.chunkWriter) clearTimeout(this.chunkWriter);
    this.chunkWriter = null;
    const assembled = await stream.end();
    const parts = (assembled?.parts ?? []) as Message['parts'];
    const metadata: Record<string, unknown> = {
      ...agentMetadata,
      ttft_ms: ttft ?? null,
      duration_ms: Date.now() - started,
      ...(failure ? { error: failure } : {}),
    };
    const final: Message = { ...reply, parts, content: plainText(parts), status, metadata };
    const current = this.store.conversation();
    this.store.transaction(() => {
      this.store.saveMessage(final);
      if (current) this.store.saveConversation({ ...current, metadata: { ...current.metadata, streaming: false } });
      this.store.enqueue(reply.id);
    });
    this.remember(final);
    if (this.stream === stream) this.stream = null;
    this.broadcast({ type: 'message', message: final });
    this.replyDone.delete(reply.id);
    this.kickOutbox();
    await this.store.dropChunks(reply.id);
    return final;
  }

  /** Hot path: one JSON encoding per chunk, shared by every socket and stream; kept in batches. */
  private relay(stream: ReplyStream, chunk: Chunk): void {
    stream.push(chunk);
    this.chunkWriter ??= setTimeout(() => this.keepChunks(stream), CHUNK_BATCH_MS);
  }

  /** Writes the chunks not yet kept; a room restart rebuilds the partial reply from them. */
  private keepChunks(stream: ReplyStream): void {
    if (this.chunkWriter) clearTimeout(this.chunkWriter);
    this.chunkWriter = null;
    if (stream.isEnded || this.keptUpTo >= stream.size) return;
    const batch = stream.chunks.slice(this.keptUpTo).map((c) => c.chunk);
    const first = this.keptUpTo === 0;
    this.store.appendChunks(stream.messageId, this.keptUpTo, batch);
    this.keptUpTo += batch.length;
    this.store.keepResumePoint(stream.messageId, {
      agentChunks: this.agentChunksAt[this.keptUpTo - 1] ?? 0,
      resumable: this.agentProgress.resumable,
    });
    if (first) this.ctx.waitUntil(this.scheduleAlarm(HEARTBEAT_MS));
  }

  /**
   * What the agent is sent: the last AGENTCORE_HISTORY_LIMIT messages that have parts and have ended, ending with
   * `user`. Read from storage once, then kept up to date by the sends and replies (the room is their only writer),
   * so a send costs neither a read of the history nor its parsing; the bridge encodes each message once too.
   */
  private agentHistory(c: ConversationRecord, user: Message): UIMessage[] {
    const limit = this.config.AGENTCORE_HISTORY_LIMIT;
    this.agentView ??= this.store
      .recent(c.id, limit + 1)
      .filter((m) => m.seq <= user.seq)
      .map(forAgent)
      .filter((m) => m !== null);
    if (this.agentView.length > limit) this.agentView.splice(0, this.agentView.length - limit);
    return [...this.agentView];
  }

  /** Adds a message that has just been committed in its final form to the agent's history, once it is read. */
  private remember(m: Message): void {
    const entry = forAgent(m);
    if (this.agentView && entry) this.agentView.push(entry);
  }

  // ---------------------------------------------------------------- WebSockets

  private upgrade(request: Request, userId: string | null, ticket: string | null, target: string | null): Response {
    if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket') {
      throw new ApiError('invalid_request', 'expected a WebSocket upgrade');
    }
    const ticketUser = ticket ? this.store.takeTicket(ticket) : null;
    // A ticket is bound to its conversation: used on another one, it is refused (and used up all the same).
    const who = userId ?? (ticketUser && target === this.store.conversation()?.id ? ticketUser : null);
    if (!who)
      throw new ApiError('unauthorized', ticket ? 'the ticket is invalid, expired or used' : 'missing credentials');
    const c = this.owned(who);
    if (this.ctx.getWebSockets().length >= this.config.MAX_SOCKETS_PER_CONVERSATION) {
      throw new ApiError('too_many_connections', 'too many open connections to this conversation', { retryAfter: 5 });
    }
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment({ userId: who, connectedAt: Date.now() } satisfies SocketAttachment);
    const stream = this.stream && !this.stream.isEnded ? this.stream : null;
    this.sendTo(server, {
      type: 'ready',
      conversation: this.wire(c),
      last_seq: this.store.lastSeq(),
      streaming: stream ? { message_id: stream.messageId, next_index: stream.size } : null,
    });
    // The sweep that drops clients who stopped pinging runs from the alarm while sockets are open.
    this.ctx.waitUntil(this.scheduleAlarm(this.sweepEveryMs()));
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    if (typeof data !== 'string') {
      ws.close(1003, 'binary frames are not supported');
      return;
    }
    if (data.length > MAX_FRAME_BYTES / 3 && new TextEncoder().encode(data).byteLength > MAX_FRAME_BYTES) {
      ws.close(1009, 'frame too large');
      return;
    }
    const attachment = ws.deserializeAttachment() as SocketAttachment | null;
    if (!attachment) return;
    try {
      await this.onFrame(ws, attachment.userId, parseFrame(data));
    } catch (err) {
      this.sendTo(ws, toApiError(err, { where: 'frame' }).toFrame(clientIdOf(data)));
    }
  }

  private async onFrame(ws: WebSocket, userId: string, frame: ClientFrame): Promise<void> {
    switch (frame.type) {
      case 'ping':
        this.sendTo(ws, { type: 'pong' });
        return;
      case 'stop':
        await this.stopReply(userId);
        return;
      case 'send': {
        const { reply } = await this.accept(userId, {
          conversation_id: this.owned(userId).id,
          content: frame.content,
          client_message_id: frame.client_message_id,
        });
        // A repeated send whose reply already ended: tell this socket how it ended.
        if (reply.status !== 'streaming') this.sendTo(ws, { type: 'message', message: reply });
        return;
      }
      case 'resume':
        await this.resume(ws, userId, frame.message_id, frame.from_index);
        return;
    }
  }

  /**
   * Re-syncs a socket onto a reply: chunks from `from` in order, then live. A reply that already ended
   * answers with its final message; an unknown id with not_found.
   */
  private async resume(ws: WebSocket, userId: string, messageId: string, from: number): Promise<void> {
    const c = this.owned(userId);
    const stream = this.stream;
    if (stream && stream.messageId === messageId && !stream.isEnded) {
      this.follow(ws, stream, from);
      return;
    }
    const message = this.store.message(c.id, messageId);
    if (!message) throw new ApiError('not_found', 'no such message in this conversation');
    this.sendTo(ws, { type: 'message', message: await this.withLiveText(message) });
  }

  private follow(ws: WebSocket, stream: ReplyStream, from: number): void {
    stream.subscribe(
      ws,
      {
        next: from,
        deliver: (index, entry) => {
          entry.frame ??= `{"type":"chunk","message_id":"${stream.messageId}","index":${index},"chunk":${entry.json}}`;
          try {
            ws.send(entry.frame);
          } catch {
            stream.unsubscribe(ws);
          }
        },
        end: () => undefined,
      },
      from,
    );
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    this.stream?.unsubscribe(ws);
    try {
      // Answer the close handshake, or the client waits for it until it times out.
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {
      // Already closed.
    }
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.stream?.unsubscribe(ws);
    try {
      ws.close(1011, 'socket error');
    } catch {
      // Already closed.
    }
  }

  private broadcast(frame: ServerFrame): void {
    const text = JSON.stringify(frame);
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.send(text);
      } catch {
        // A socket that is closing misses nothing it can still use.
      }
    }
  }

  private sendTo(ws: WebSocket, frame: ServerFrame): void {
    try {
      ws.send(JSON.stringify(frame));
    } catch {
      // Closing.
    }
  }

  // ---------------------------------------------------------------- outbox, alarms, recovery

  private kickOutbox(): void {
    this.ctx.waitUntil(this.flushNow());
  }

  /**
   * The list is read from Postgres: a create, rename or JSON send shows there when it answers, if Postgres
   * keeps up. It waits no longer than CATCH_UP_MS: with Postgres down or 500 rooms logging in at once, a create
   * waited 3–11 s for a flush the outbox finishes on its own anyway.
   */
  private async catchUp(): Promise<void> {
    const flushing = this.flushNow();
    this.ctx.waitUntil(flushing);
    await bounded(CATCH_UP_MS, () => flushing).catch(() => undefined);
  }

  private async flushNow(): Promise<void> {
    const result = await this.outbox.flush();
    if (!result.ok) {
      log('warn', 'outbox flush failed; will retry', { retry_in_ms: result.retryInMs, error: String(result.error) });
      await this.scheduleAlarm(result.retryInMs);
    }
  }

  /** A deleted conversation that Postgres has forgotten too: nothing of it stays in the room. */
  private async forget(): Promise<void> {
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.store = new RoomStore(this.ctx.storage);
    this.bucket = null;
    this.agentView = null;
  }

  private async scheduleAlarm(inMs: number): Promise<void> {
    const at = Date.now() + inMs;
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  override async alarm(): Promise<void> {
    const result = await this.outbox.flush();
    if (result.ok && this.store.isForgettable()) {
      await this.forget();
      return;
    }
    if (!result.ok) await this.scheduleAlarm(result.retryInMs);
    this.sweepSockets();
    if (this.ctx.getWebSockets().length > 0) await this.scheduleAlarm(this.sweepEveryMs());
    if (this.stream && !this.stream.isEnded) await this.scheduleAlarm(HEARTBEAT_MS);
  }

  private sweepEveryMs(): number {
    return Math.min(SOCKET_SWEEP_MS, this.config.WS_PING_TIMEOUT_SECONDS * 1000);
  }

  /** Drops sockets whose client has stopped pinging: a half-open socket would otherwise hold a slot forever. */
  sweepSockets(now = Date.now()): void {
    for (const ws of this.ctx.getWebSockets()) {
      const attachment = ws.deserializeAttachment() as SocketAttachment | null;
      const lastPing = this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? 0;
      const lastSign = Math.max(lastPing, attachment?.connectedAt ?? 0);
      if (now - lastSign > this.config.WS_PING_TIMEOUT_SECONDS * 1000) {
        try {
          ws.close(4408, 'no ping received');
        } catch {
          // Gone already.
        }
      }
    }
  }

  /**
   * After a restart no agent call survives. A reply still marked streaming whose agent is resumable is asked for
   * again from where its kept chunks end (SPEC §6) and goes on under the same id, its indexes continuing; any
   * other ends as error `interrupted`, keeping the text its stored chunks carry, and every socket is told.
   */
  private async recover(): Promise<void> {
    this.bucket = this.store.sendBucket();
    await this.store.loadSettled();
    // A delete Postgres still owes is carried out even when nothing else wakes the room.
    if (this.store.owedDelete()) await this.scheduleAlarm(0);
    const c = this.store.conversation();
    if (!c) return;
    for (const reply of this.store.messagesWithStatus(c.id, 'streaming')) {
      const stream = new ReplyStream(reply.id);
      for (const chunk of await this.store.chunks(reply.id)) stream.push(chunk);
      const point = await this.store.resumePoint(reply.id);
      if (point?.resumable && this.resumeReply(c, reply, stream, point)) continue;
      const assembled = await stream.end();
      const parts = (assembled?.parts ?? []) as Message['parts'];
      const final: Message = {
        ...reply,
        parts,
        content: plainText(parts),
        status: 'error',
        metadata: {
          ...reply.metadata,
          error: { code: 'interrupted', message: 'the reply was interrupted by a restart' },
        },
      };
      this.store.transaction(() => {
        this.store.saveMessage(final);
        this.store.saveConversation({ ...c, metadata: { ...c.metadata, streaming: false } });
        this.store.enqueue(reply.id);
      });
      await this.store.dropChunks(reply.id);
      this.broadcast({ type: 'message', message: final });
    }
    if (this.store.pending(c.id)) await this.scheduleAlarm(0);
  }

  /** Goes on with a reply after a restart (recover): its kept chunks, then the agent's, from where they end. */
  private resumeReply(c: ConversationRecord, reply: Message, stream: ReplyStream, point: ResumePoint): boolean {
    const user = reply.reply_to ? this.store.message(c.id, reply.reply_to) : null;
    if (!user || this.config.AGENTCORE_PROTOCOL !== 'ui-stream') return false;
    this.stream = stream;
    this.keptUpTo = stream.size;
    this.agentProgress = { resumable: true, agentChunks: point.agentChunks };
    this.agentChunksAt = stream.chunks.map(() => point.agentChunks);
    const done = this.run(c, user, reply, stream, { resumeFrom: point.agentChunks });
    this.replyDone.set(reply.id, done);
    this.ctx.waitUntil(done);
    this.ctx.waitUntil(this.scheduleAlarm(HEARTBEAT_MS));
    log('info', 'reply resumed after a restart', {
      conversation_id: c.id,
      message_id: reply.id,
      from_chunk: stream.size,
      agent_chunks: point.agentChunks,
    });
    return true;
  }

  // ---------------------------------------------------------------- helpers

  private owned(userId: string): ConversationRecord {
    const c = this.store.conversation();
    if (!c || c.userId !== userId) throw notFound();
    return c;
  }

  private wire(c: ConversationRecord) {
    return toWireConversation(c, this.stream !== null && !this.stream.isEnded);
  }

  /** A reply in flight is read from the stream: the stored row is only its first version. */
  private async withLiveText(m: Message): Promise<Message> {
    const stream = this.stream;
    if (m.status !== 'streaming' || stream?.messageId !== m.id) return m;
    const parts = ((await stream.message())?.parts ?? []) as Message['parts'];
    return { ...m, parts, content: plainText(parts) };
  }
}

class StopError extends Error {
  override name = 'StopError';
}
class DeletedError extends Error {
  override name = 'DeletedError';
}

const notFound = () => new ApiError('not_found', 'conversation not found');
const rateLimited = (retryAfter: number) =>
  new ApiError('rate_limited', `too many messages; try again in ${retryAfter} s`, { retryAfter });

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A message as the agent sees it, or null when it is not part of the agent's history (streaming, or no parts). */
function forAgent(m: Message): UIMessage | null {
  if (m.status === 'streaming' || m.parts.length === 0) return null;
  return { id: m.id, role: m.role, parts: m.parts } as UIMessage;
}

function describeFailure(err: unknown): { code: string; message: string } {
  if (err instanceof AgentError) return { code: err.code, message: err.message };
  return { code: 'agent_error', message: err instanceof Error ? err.message : 'the agent failed' };
}

function clientIdOf(data: string): string | undefined {
  try {
    const raw = JSON.parse(data) as { client_message_id?: unknown };
    return typeof raw.client_message_id === 'string' ? raw.client_message_id : undefined;
  } catch {
    return undefined;
  }
}
