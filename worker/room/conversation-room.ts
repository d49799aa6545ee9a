import { DurableObject } from 'cloudflare:workers';
import { type Config, loadConfig } from '../config';
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
import { assertInTree, frameTurn, regenerateTurn, sendTurn } from './branches';
import { rate } from './feedback';
import { changedConversation, newConversation } from './messages';
import { CATCH_UP_MS, Outbox } from './outbox';
import { HEARTBEAT_MS, Replies } from './replies';
import { ROOM_ENTRIES } from './room-entries';
import type { ApprovalInput } from './rpc';
import { answer, guard, notFound, type RegenerateInput, type RoomResult, type SendInput, type TurnInput } from './rpc';
import { SendAllowance } from './send-allowance';
import { ShareLink } from './share-link';
import { type Asker, RoomSockets, readyFrame } from './sockets';
import { attachResponse, turnResponse } from './sse';
import { meterRequests, meterStorage } from './storage-meter';
import { type ConversationRecord, RoomStore, type ShareRecord, toWireConversation } from './store';
import { TurnGate } from './turn-gate';
import { Turns } from './turns';
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
  private readonly turns: Turns;

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
    this.link = new ShareLink({
      store: () => this.store,
      config: () => this.config,
      outbox: this.outbox,
      // Every open tab's header and list show whether the conversation is shared (its `shared`).
      changed: (c) => this.sockets.broadcast({ type: 'conversation', conversation: this.wire(c) }),
    });
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
    this.turns = new Turns({
      store: () => this.store,
      config: () => this.config,
      gate: this.gate,
      allowance: this.allowance,
      approvals: this.approvals,
      history: this.agentHistory,
      outbox: this.outbox,
      replies: this.replies,
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
    return guard(async () => {
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
    });
  }

  get(userId: string): Promise<RoomResult<Conversation>> {
    return guard(() => this.wire(this.owned(userId)));
  }

  /** Rename, pin or archive (PATCH). */
  update(userId: string, change: ConversationChange): Promise<RoomResult<Conversation>> {
    return guard(async () => {
      const next = changedConversation(this.owned(userId), change);
      this.store.saveConversation(next);
      this.store.enqueue(null);
      const conversation = this.wire(next);
      this.sockets.broadcast({ type: 'conversation', conversation });
      if (change.title !== undefined) this.link.renamed(next);
      await this.outbox.catchUp();
      return conversation;
    });
  }

  remove(userId: string): Promise<RoomResult<null>> {
    return guard(async () => {
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
    });
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
    return guard(async () => this.ended(userId, await this.turns.accept(userId, sendTurn(input))));
  }

  /** JSON regenerate (SPEC §9): a new reply to the same user message, the head; answers when it has ended. */
  regenerate(userId: string, input: RegenerateInput): Promise<RoomResult<TurnResult>> {
    return guard(async () => this.ended(userId, await this.turns.accept(userId, regenerateTurn(input))));
  }

  /** A person's answer to a tool approval (SPEC §9); JSON: answers when the reply, gone on, has ended. */
  approve(userId: string, input: ApprovalInput): Promise<RoomResult<TurnResult>> {
    return guard(async () => this.ended(userId, await this.answerApproval(userId, input)));
  }

  /** Thumbs up or down on a reply, or (null) none (SPEC §9); every socket gets the changed message. */
  rate(userId: string, messageId: string, feedback: Feedback | null): Promise<RoomResult<Message>> {
    return guard(async () => {
      const message = rate(this.store, this.owned(userId).id, messageId, userId, feedback);
      this.sockets.broadcast({ type: 'message', message });
      await this.outbox.catchUp();
      return message;
    });
  }

  /** Makes the active branch the one through `messageId` (SPEC §9); every socket is told the new head. */
  switchHead(userId: string, messageId: string): Promise<RoomResult<{ head_id: string }>> {
    return guard(() => this.switchTo(userId, messageId));
  }

  /** The conversation's live share link (SPEC §10): made on first asking, the same one after. */
  share(userId: string): Promise<RoomResult<ShareRecord>> {
    return guard(() => this.link.make(this.owned(userId)));
  }

  /** Revokes the share link: it is refused at once and its live viewers are closed. */
  unshare(userId: string): Promise<RoomResult<null>> {
    return guard(() => this.link.revoke(this.owned(userId)));
  }

  /** What the public link `shareId` shows, with no sign-in; not_found when it is not this conversation's link. */
  sharedView(shareId: string): Promise<RoomResult<SharedConversation>> {
    return guard(() => this.link.view(shareId));
  }

  /** The public link's live stream (SSE): the written messages, the reply in flight, then everything as it happens. */
  async watchShared(shareId: string): Promise<Response> {
    return answer(() => this.link.watch(shareId, this.gate.live));
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
    const { user, reply } = await this.turns.accept(userId, input);
    const stored = this.store.message(user.conversation_id, reply.id) ?? reply;
    return turnResponse(this.gate.current, stored, user.id, this.config);
  }

  // ---------------------------------------------------------------- WebSockets

  private upgrade(asker: Asker): Response {
    const c = this.owned(asker.userId);
    return this.sockets.accept(asker, () => readyFrame(this.wire(c), this.store.tree.headSeq(), this.gate.live));
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
        const { reply } = await this.turns.accept(userId, turn);
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

type TurnResult = { conversation: Conversation; message: Message; reply: Message };
