import { DurableObject } from 'cloudflare:workers';
import { assertFitsHistory } from '../agentcore/history';
import { type Config, loadConfig } from '../config';
import { ApiError } from '../errors';
import { parseFrame } from '../http';
import { setLogLevel } from '../log';
import { Metrics } from '../metrics';
import {
  type ClientFrame,
  type Conversation,
  type ConversationChange,
  type Feedback,
  type Message,
  type PageQuery,
  PING_FRAME,
  PONG_FRAME,
  type SharedConversation,
} from '../wire';
import { AgentHistory } from './agent-history';
import { armAlarm } from './alarm';
import { ToolApprovals } from './approvals';
import {
  assertInTree,
  frameTurn,
  planTurn,
  regenerateTurn,
  repeatOf,
  sendTurn,
  type TurnPlan,
  turnRecords,
} from './branches';
import { rate } from './feedback';
import { changedConversation, newConversation } from './messages';
import { CATCH_UP_MS, Outbox } from './outbox';
import { HEARTBEAT_MS, Replies } from './replies';
import type { ApprovalInput } from './rpc';
import { answer, guard, type RegenerateInput, type RoomResult, type SendInput, type TurnInput } from './rpc';
import { SendAllowance } from './send-allowance';
import { ShareLink } from './share-link';
import { type Asker, RoomSockets } from './sockets';
import { attachResponse, turnResponse } from './sse';
import { type Entries, meterRequests, meterStorage } from './storage-meter';
import { type ConversationRecord, RoomStore, type ShareRecord, toWireConversation } from './store';
import { TurnGate } from './turn-gate';
import { spendWrite } from './user-quota';

/**
 * One conversation: its only writer. It checks ownership, numbers messages, commits them to its own storage
 * before anything else, runs the agent, fans chunks out to every socket and stream, and flushes to Postgres
 * through the outbox. The mechanisms are beside it: the turn gate, the send allowance, the reply stream, the
 * sockets, the share link, the agent's history and the store.
 */
export class ConversationRoom extends DurableObject<Env> {
  private store: RoomStore;
  private readonly outbox: Outbox;
  private readonly gate = new TurnGate();
  private readonly allowance: SendAllowance;
  private readonly sockets: RoomSockets;
  private readonly agentHistory = new AgentHistory();
  private readonly replies: Replies;
  private readonly link: ShareLink;
  private readonly approvals: ToolApprovals;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    meterStorage(ctx, env);
    meterRequests('ConversationRoom', ConversationRoom, ROOM_ENTRIES, env);
    this.store = new RoomStore(ctx.storage);
    this.outbox = new Outbox(
      ctx,
      () => this.store,
      () => this.config,
    );
    this.allowance = new SendAllowance(
      ctx.id.toString(),
      (userId) => env.QUOTAS.get(env.QUOTAS.idFromName(userId)),
      () => ({
        perMinute: this.config.RATE_LIMIT_CONVERSATION_PER_MINUTE,
        burst: this.config.RATE_LIMIT_CONVERSATION_BURST,
      }),
    );
    const metrics = new Metrics(env.METRICS);
    this.sockets = new RoomSockets(ctx, () => this.config, metrics);
    this.link = new ShareLink({ store: () => this.store, config: () => this.config, outbox: this.outbox });
    this.replies = new Replies({
      ctx,
      store: () => this.store,
      config: () => this.config,
      gate: this.gate,
      sockets: this.sockets,
      shared: this.link,
      history: this.agentHistory,
      metrics,
      ended: () => this.outbox.kick(),
      asking: (c, final, stream) => this.approvals.asked(c, final, stream),
    });
    this.approvals = new ToolApprovals({
      storage: ctx.storage,
      store: () => this.store,
      gate: this.gate,
      sockets: this.sockets,
      history: this.agentHistory,
      outbox: this.outbox,
      replies: () => this.replies,
      allowance: this.allowance,
    });
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
    return guard(() => this.replies.page(this.owned(userId).id, q));
  }

  stop(userId: string): Promise<RoomResult<{ stopped: boolean }>> {
    return guard(() => this.stopReply(userId));
  }

  /** A ticket for `userId`, whose socket lives until `tokenExpiresAt`, the expiry of the token that asked for it. */
  ticket(userId: string, tokenExpiresAt: number): Promise<RoomResult<{ ticket: string; expires_in: number }>> {
    return guard(() => this.sockets.issueTicket(this.store, this.owned(userId).id, { userId, tokenExpiresAt }));
  }

  /** The user's quota would lend this conversation's advance to another's send (SendAllowance.giveBack). */
  giveBackAdvance(): boolean {
    return this.allowance.giveBack();
  }

  /** JSON send (an edit with edit_of): answers when the reply has ended. */
  send(userId: string, input: SendInput): Promise<RoomResult<TurnResult>> {
    return guard(async () => this.ended(userId, await this.accept(userId, sendTurn(input))));
  }

  /** JSON regenerate (SPEC §9): a new reply to the same user message, the head; answers when it has ended. */
  regenerate(userId: string, input: RegenerateInput): Promise<RoomResult<TurnResult>> {
    return guard(async () => this.ended(userId, await this.accept(userId, regenerateTurn(input))));
  }

  /** A person's answer to a tool approval (SPEC §9); JSON: answers when the reply, gone on, has ended. */
  approve(userId: string, input: ApprovalInput): Promise<RoomResult<TurnResult>> {
    return guard(async () => this.ended(userId, await this.answerApproval(userId, input)));
  }

  /** Thumbs up or down on a reply, or (null) none (SPEC §9); every socket gets the changed message. */
  rate(userId: string, messageId: string, feedback: Feedback | null): Promise<RoomResult<Message>> {
    return guard(() => this.setFeedback(userId, messageId, feedback));
  }

  /** Makes the active branch the one through `messageId` (SPEC §9); every socket is told the new head. */
  switchHead(userId: string, messageId: string): Promise<RoomResult<{ head_id: string }>> {
    return guard(() => this.switchTo(userId, messageId));
  }

  /** The conversation's live share link (SPEC §10): made on first asking, the same one after. */
  share(userId: string): Promise<RoomResult<ShareRecord>> {
    return guard(async () => {
      this.owned(userId);
      const had = this.store.share() !== null;
      const link = await this.link.make();
      if (!had) this.sharingChanged();
      return link;
    });
  }

  /** Revokes the share link: it is refused at once and its live viewers are closed. */
  unshare(userId: string): Promise<RoomResult<null>> {
    return guard(() => {
      this.owned(userId);
      const had = this.store.share() !== null;
      this.link.revoke();
      if (had) this.sharingChanged();
      return null;
    });
  }

  /** Every open tab's header and list show whether the conversation is shared (its `shared`). */
  private sharingChanged(): void {
    const c = this.store.conversation();
    if (c) this.sockets.broadcast({ type: 'conversation', conversation: this.wire(c) });
  }

  /** What the public link `shareId` shows, with no sign-in; not_found when it is not this conversation's link. */
  sharedView(shareId: string): Promise<RoomResult<SharedConversation>> {
    return guard(() => this.link.view(shareId));
  }

  /** The public link's live stream (SSE): the written messages, the reply in flight, then everything as it happens. */
  async watchShared(shareId: string): Promise<Response> {
    return answer(() => this.link.watch(shareId, this.gate.live));
  }

  private async createConversation(userId: string, id: string, title: string | undefined): Promise<Conversation> {
    const existing = this.store.conversation();
    if (existing) {
      if (existing.userId !== userId) throw notFound();
      return this.wire(existing);
    }
    const record = newConversation(id, userId, title);
    this.store.markLive();
    this.store.saveConversation(record);
    this.store.enqueue(null);
    await this.outbox.catchUp();
    return this.wire(record);
  }

  private async updateConversation(userId: string, change: ConversationChange): Promise<Conversation> {
    const next = changedConversation(this.owned(userId), change);
    this.store.saveConversation(next);
    this.store.enqueue(null);
    const conversation = this.wire(next);
    this.sockets.broadcast({ type: 'conversation', conversation });
    if (change.title !== undefined) this.link.renamed(next);
    await this.outbox.catchUp();
    return conversation;
  }

  private async removeConversation(userId: string): Promise<null> {
    const c = this.owned(userId);
    this.replies.cancel();
    this.sockets.closeAllDeleted();
    this.link.closeAll();
    this.store.markDeleted(c.id);
    this.agentHistory.forget();
    // The alarm is set before the flush is tried: a restart in between still finds the delete owed and carried out.
    await armAlarm(this.ctx.storage, CATCH_UP_MS);
    // Not forgotten when a send has made the conversation again meanwhile (same derived id): that one stays.
    if ((await this.outbox.flushWithin(CATCH_UP_MS)) && this.store.isForgettable()) await this.forget();
    return null;
  }

  private async setFeedback(userId: string, messageId: string, feedback: Feedback | null): Promise<Message> {
    const message = rate(this.store, this.owned(userId).id, messageId, userId, feedback);
    this.sockets.broadcast({ type: 'message', message });
    await this.outbox.catchUp();
    return message;
  }

  private async switchTo(userId: string, messageId: string): Promise<{ head_id: string }> {
    const c = this.owned(userId);
    assertInTree(this.store, c.id, messageId);
    // The reply in flight stays the head until it ends: a switch would leave it streaming off the active branch.
    this.gate.assertFree();
    const head = this.store.switchHead(messageId);
    this.sockets.broadcast({ type: 'head', head_id: head });
    this.link.switched(c);
    await this.outbox.catchUp();
    return { head_id: head };
  }

  private async stopReply(userId: string): Promise<{ stopped: boolean }> {
    this.owned(userId);
    return { stopped: await this.replies.stop() };
  }

  // ---------------------------------------------------------------- sending

  /** A turn's messages once its reply has ended, the continuations after remembered approvals included. */
  private async ended(userId: string, { user, reply }: { user: Message; reply: Message }): Promise<TurnResult> {
    const final = reply.status === 'streaming' ? await this.gate.settled(reply.id) : reply;
    await this.outbox.catchUp();
    const c = this.owned(userId);
    return { conversation: this.wire(c), message: user, reply: final ?? this.store.message(c.id, reply.id) ?? reply };
  }

  /** SSE send (an edit with edit_of): the reply as a UI message stream, live while it is in flight. */
  async sendStream(userId: string, input: SendInput): Promise<Response> {
    return answer(() => this.sendStreaming(userId, sendTurn(input)), { request_id: input.request_id });
  }

  /** SSE regenerate: the new reply as a UI message stream. */
  async regenerateStream(userId: string, input: RegenerateInput): Promise<Response> {
    return answer(() => this.sendStreaming(userId, regenerateTurn(input)), { request_id: input.request_id });
  }

  /** SSE answer to a tool approval: the reply's continuation from its first index, as `useChat` reads it. */
  async approveStream(userId: string, input: ApprovalInput): Promise<Response> {
    return answer(
      async () => {
        const { user, reply, from } = await this.answerApproval(userId, input);
        return turnResponse(this.gate.current, reply, user.id, this.config, from ?? 0);
      },
      { request_id: input.request_id },
    );
  }

  /** A socket's answer has no HTTP request: it gets its own request id. */
  private answerApproval(userId: string, input: ApprovalInput) {
    const trace = { requestId: input.request_id ?? crypto.randomUUID(), traceparent: input.traceparent };
    return this.approvals.answer(this.owned(userId), userId, input, trace);
  }

  /** SSE resume: the reply in flight from after `lastEventId`, or 204 when none is. */
  async attachStream(userId: string, lastEventId: string | null): Promise<Response> {
    return answer(() => {
      this.owned(userId);
      return attachResponse(this.gate.live, lastEventId, this.config);
    });
  }

  /** Internal HTTP for what RPC cannot carry: the WebSocket upgrade. */
  override async fetch(request: Request): Promise<Response> {
    return answer(() => {
      if (new URL(request.url).pathname !== '/ws') throw notFound();
      return this.upgrade(this.sockets.askerOf(this.store, request));
    });
  }

  private async sendStreaming(userId: string, input: TurnInput): Promise<Response> {
    const { user, reply } = await this.accept(userId, input);
    const stored = this.store.message(user.conversation_id, reply.id) ?? reply;
    return turnResponse(this.gate.current, stored, user.id, this.config);
  }

  /**
   * Checks and commits a turn (a send, an edit, a regenerate): ownership, idempotency, its place in the tree, one
   * reply at a time, rate limits; then its new messages, and starts the agent. A retry with the same
   * client_message_id returns what the first one made and calls nothing.
   */
  private async accept(userId: string, input: TurnInput): Promise<{ user: Message; reply: Message }> {
    const key = input.client_message_id;
    await this.gate.afterEarlier(key);
    const c = this.store.conversation();
    if (c && c.userId !== userId) throw notFound();
    if (c && key) {
      const earlier = this.store.messageByClientId(c.id, key);
      if (earlier) {
        const { user, reply } = repeatOf(this.store, c.id, earlier, input.ask);
        return { user, reply: await this.replies.read(reply) };
      }
    }
    if (!c && (!input.create || input.ask.kind !== 'send')) throw notFound();
    this.gate.assertFree();
    const plan = planTurn(this.store, input.conversation_id, input.ask);
    if (plan.kind === 'send') assertFitsHistory(this.config, plan.content);
    await this.gate.hold(key, this.allowance.admit(userId));
    const existing = this.store.conversation();
    return this.commit(existing ?? newConversation(input.conversation_id, userId), input, plan, !existing);
  }

  private commit(
    c: ConversationRecord,
    input: TurnInput,
    plan: TurnPlan,
    fresh: boolean,
  ): { user: Message; reply: Message } {
    const { turn, shape } = turnRecords(this.store, c, plan, input.client_message_id ?? null);
    // A turn answers what a pending approval asked: the approval is denied first (SPEC §9, `superseded`).
    this.approvals.supersede(c.id);
    // One storage commit per turn: the bucket is kept with the messages it admitted. The agent call and every
    // frame wait for it (the output gate); locally it holds workerd up ~0.5 ms, measured by sends with and
    // without these writes taking turns in one stack (bench/chat.ts figures, session 4).
    const { user, reply } = this.store.saveTurn(turn, this.allowance.bucket, fresh);
    if (turn.userIsNew) this.agentHistory.remember(user);
    const trace = { requestId: input.request_id, traceparent: input.traceparent };
    this.outbox.duringReply(this.replies.start(turn.conversation, user, reply, trace, shape));
    return { user, reply };
  }

  // ---------------------------------------------------------------- WebSockets

  private upgrade(asker: Asker): Response {
    const c = this.owned(asker.userId);
    return this.sockets.accept(asker, () => {
      const stream = this.gate.live;
      return {
        type: 'ready',
        conversation: this.wire(c),
        last_seq: this.store.tree.headSeq(),
        streaming: stream ? { message_id: stream.messageId, next_index: stream.size } : null,
      };
    });
  }

  override async webSocketMessage(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    const received = this.sockets.received(ws, data);
    if (!received) return;
    try {
      await this.onFrame(ws, received.userId, parseFrame(received.text));
    } catch (err) {
      this.sockets.refuse(ws, err, received.text);
    }
  }

  private async onFrame(ws: WebSocket, userId: string, frame: ClientFrame): Promise<void> {
    switch (frame.type) {
      case 'ping':
        this.sockets.send(ws, { type: 'pong' });
        return;
      case 'stop':
        // One of the user's other writes, as POST /stop is (SPEC §3).
        await spendWrite(this.env, userId);
        await this.stopReply(userId);
        return;
      case 'send':
      case 'regenerate': {
        const turn = frameTurn(frame, this.owned(userId).id, this.sockets.traceparentOf(ws));
        const { reply } = await this.accept(userId, turn);
        // A repeated turn whose reply already ended: tell this socket how it ended.
        if (reply.status !== 'streaming') this.sockets.send(ws, { type: 'message', message: reply });
        return;
      }
      case 'approve':
        await this.answerApproval(userId, { ...frame, traceparent: this.sockets.traceparentOf(ws) });
        return;
      case 'switch':
        await this.switchTo(userId, frame.message_id);
        return;
      case 'resume': {
        const c = this.owned(userId);
        await this.sockets.resume(ws, this.gate.live, frame.message_id, frame.from_index, async () => {
          const message = this.store.message(c.id, frame.message_id);
          return message && this.replies.read(message);
        });
        return;
      }
    }
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    this.sockets.closed(ws, code, reason, this.gate.current);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.sockets.failed(ws, this.gate.current);
  }

  // ---------------------------------------------------------------- outbox, alarms, recovery

  /** A deleted conversation that Postgres has forgotten too: nothing of it stays in the room. */
  private async forget(): Promise<void> {
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.store = new RoomStore(this.ctx.storage);
    this.allowance.load(null);
    this.agentHistory.forget();
  }

  override async alarm(): Promise<void> {
    // First: a socket whose token has run out must not wait for a Postgres that is slow to answer.
    this.sockets.sweep();
    const result = await this.outbox.flush();
    if (result.ok && this.store.isForgettable()) {
      await this.forget();
      return;
    }
    if (!result.ok) await armAlarm(this.ctx.storage, result.retryInMs);
    if (this.sockets.open > 0) await armAlarm(this.ctx.storage, this.sockets.sweepInMs());
    if (this.gate.live) await armAlarm(this.ctx.storage, HEARTBEAT_MS);
  }

  /** Restarted: the send bucket, the outbox's place, a delete still owed, and the reply that was in flight. */
  private async recover(): Promise<void> {
    this.allowance.load(this.store.sendBucket());
    await this.store.loadSettled();
    // A delete Postgres still owes is carried out even when nothing else wakes the room.
    if (this.store.owedDelete()) await armAlarm(this.ctx.storage, 0);
    const c = this.store.conversation();
    if (!c) return;
    await this.replies.recover(c);
    if (this.store.pending(c.id)) await armAlarm(this.ctx.storage, 0);
  }

  // ---------------------------------------------------------------- helpers

  private owned(userId: string): ConversationRecord {
    const c = this.store.conversation();
    if (!c || c.userId !== userId) throw notFound();
    return c;
  }

  private wire(c: ConversationRecord) {
    return toWireConversation(c, this.gate.live !== null, this.store.head(), this.store.share() !== null);
  }
}

const notFound = () => new ApiError('not_found', 'conversation not found');

type TurnResult = { conversation: Conversation; message: Message; reply: Message };

/** Every way into a room, for the capacity bench's request count (storage-meter.ts). */
const ROOM_ENTRIES: Record<Entries<ConversationRoom>, true> = {
  create: true,
  get: true,
  update: true,
  remove: true,
  history: true,
  stop: true,
  ticket: true,
  giveBackAdvance: true,
  send: true,
  regenerate: true,
  approve: true,
  approveStream: true,
  rate: true,
  switchHead: true,
  share: true,
  unshare: true,
  sharedView: true,
  watchShared: true,
  sendStream: true,
  regenerateStream: true,
  attachStream: true,
  fetch: true,
  connect: true,
  alarm: true,
  webSocketMessage: true,
  webSocketClose: true,
  webSocketError: true,
};
