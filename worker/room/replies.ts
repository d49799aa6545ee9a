import { streamAgent } from '../agentcore/bridge';
import type { Config } from '../config';
import { log } from '../log';
import type { Metrics } from '../metrics';
import { traceIdOf } from '../trace';
import type { Chunk, Message, PageQuery } from '../wire';
import type { AgentHistory } from './agent-history';
import { armAlarm } from './alarm';
import { carryAnswers, requested } from './approvals';
import { describeFailure } from './failure';
import { finalReply, withParts } from './messages';
import { ReplyStream } from './reply-stream';
import type { RoomSockets } from './sockets';
import { startChunk } from './sse';
import { requestCounts, storageRows } from './storage-meter';
import type { ConversationRecord, RoomStore } from './store';
import type { TurnGate } from './turn-gate';

/**
 * While a reply streams the room re-arms its alarm this often. A plain fetch() does not keep a Durable Object in
 * memory, even while its body streams; with no request, socket message or alarm for 70–140 s it is evicted, and a
 * reply no client is watching (a JSON send whose caller left, every tab closed) would die with it. After a restart
 * the same alarm wakes the room, which resumes the reply.
 */
export const HEARTBEAT_MS = 30_000;

/** What a reply's life touches in its room. */
export interface ReplyRoom {
  ctx: DurableObjectState;
  store(): RoomStore;
  config(): Config;
  gate: TurnGate;
  sockets: RoomSockets;
  /** The share link's viewers (SPEC §10): a reply starting after its user message, and each message written. */
  shared: {
    started(user: Message, stream: ReplyStream): void;
    continued(reply: Message, stream: ReplyStream): void;
    written(message: Message): void;
  };
  history: AgentHistory;
  metrics: Metrics;
  /** A reply has ended and is stored: Postgres is owed it. */
  ended(): void;
  /** A reply has ended asking for tool approvals (SPEC §9), its chunks sealed in `stream` for its continuation. */
  asking(c: ConversationRecord, final: Message, stream: ReplyStream): void;
}

/** Why a reply's stream was aborted: its user stopped it. */
export class StopError extends Error {
  override name = 'StopError';
}
/** Why a reply's stream was aborted: its conversation was deleted. */
export class DeletedError extends Error {
  override name = 'DeletedError';
}

/**
 * A conversation's replies, from start to end: a committed send's reply starts streaming, the agent is run into
 * its stream, and it ends as complete, stopped or error, stored in its final form and told to every socket. After
 * a restart, a reply that was in flight is resumed or ended as interrupted.
 */
/** The edge's request id and W3C traceparent, sent on to the agent (X-Request-Id, traceparent). */
export type Trace = { requestId?: string | undefined; traceparent?: string | undefined };

/**
 * How the agent is asked for a reply: resuming after a restart from its chunk `resumeFrom`, replacing a reply, or
 * continuing it once its tool approvals are answered (SPEC §9).
 */
type RunOptions = Trace & { resumeFrom?: number; regenerates?: string | undefined; continues?: boolean };

/** How a turn changed the tree: a regenerate replaces a reply; an edit or a regenerate starts another branch. */
export interface TurnShape {
  regenerates?: string | undefined;
  branched: boolean;
}

export class Replies {
  constructor(private readonly room: ReplyRoom) {}

  /**
   * Starts the reply to a committed turn: every socket is told the new messages (and the new head, when the turn
   * started another branch) and follows the reply from its first chunk.
   */
  start(c: ConversationRecord, user: Message, reply: Message, trace: Trace, shape: TurnShape): Promise<Message | null> {
    const { ctx, sockets, gate } = this.room;
    const stream = new ReplyStream(reply.id, ctx.storage, () => this.heartbeat());
    sockets.followAll(stream);
    if (!shape.regenerates) sockets.broadcast({ type: 'message', message: user });
    sockets.broadcast({ type: 'message', message: reply });
    if (shape.branched) sockets.broadcast({ type: 'head', head_id: reply.id });
    this.room.shared.started(user, stream);
    stream.push(startChunk(reply.id, c.id, user.id));
    const done = this.run(c, user, reply, stream, { ...trace, regenerates: shape.regenerates });
    gate.began(stream, done);
    ctx.waitUntil(done);
    return done;
  }

  /**
   * Goes on with a reply whose approvals are answered (SPEC §9): `answered`, its row streaming again, is told to every
   * socket, which follows the continuation from its first index (after the reply's kept chunks in `stream`); the
   * agent is asked again with the history ending in that message.
   */
  continueReply(
    c: ConversationRecord,
    user: Message,
    answered: Message,
    stream: ReplyStream,
    trace: Trace,
  ): { done: Promise<Message | null>; from: number } {
    const { ctx, sockets, gate } = this.room;
    const from = stream.size;
    sockets.followAll(stream, from);
    sockets.broadcast({ type: 'message', message: answered });
    this.room.shared.continued(answered, stream);
    stream.push(startChunk(answered.id, c.id, user.id));
    const done = this.run(c, user, answered, stream, { ...trace, continues: true });
    gate.began(stream, done);
    ctx.waitUntil(done);
    this.heartbeat();
    return { done, from };
  }

  /** Stops the reply streaming now, keeping its partial text; false when none is. Settles once it is stored. */
  async stop(): Promise<boolean> {
    const stream = this.room.gate.live;
    if (!stream) return false;
    const done = this.room.gate.done(stream.messageId);
    stream.abort.abort(new StopError());
    await done;
    return true;
  }

  /** The conversation is being deleted: the reply in flight ends with it, stored nowhere. */
  cancel(): void {
    this.room.gate.current?.abort.abort(new DeletedError());
  }

  /** A page of the active branch's history (SPEC §3), the reply in flight as it reads now. */
  async page(conversationId: string, q: PageQuery): Promise<{ messages: Message[]; has_more: boolean }> {
    const page = this.room.store().page(conversationId, q);
    return { ...page, messages: await Promise.all(page.messages.map((m) => this.read(m))) };
  }

  /** A message as it reads now: a reply in flight from its stream, the stored row being only its first version. */
  async read(m: Message): Promise<Message> {
    const stream = this.room.gate.current;
    if (m.status !== 'streaming' || stream?.messageId !== m.id) return m;
    return withParts(m, carryAnswers(partsOf(await stream.message()), m.parts));
  }

  /**
   * After a restart no agent call survives. A reply still marked streaming whose agent is resumable is asked for
   * again from where its kept chunks end (SPEC §6) and goes on under the same id, its indexes continuing; any
   * other ends as error `interrupted`, keeping the text its stored chunks carry, and every socket is told.
   */
  async recover(c: ConversationRecord): Promise<void> {
    const { ctx } = this.room;
    for (const reply of this.room.store().messagesWithStatus(c.id, 'streaming')) {
      const stream = await ReplyStream.restore(ctx.storage, reply.id, () => this.heartbeat());
      if (stream.progress.resumable && this.resume(c, reply, stream)) continue;
      const parts = carryAnswers(partsOf(await stream.end()), reply.parts);
      const error = { code: 'interrupted', message: 'the reply was interrupted by a restart' };
      this.settle(stream, finalReply(reply, parts, 'error', { ...reply.metadata, error }));
      await stream.drop();
    }
  }

  /** Goes on with a reply after a restart: its kept chunks, then the agent's, from where they end. */
  private resume(c: ConversationRecord, reply: Message, stream: ReplyStream): boolean {
    const user = reply.reply_to ? this.room.store().message(c.id, reply.reply_to) : null;
    if (!user || this.room.config().AGENTCORE_PROTOCOL !== 'ui-stream') return false;
    const agentChunks = stream.progress.agentChunks;
    // A streaming row with parts is a continuation after tool approvals (SPEC §9): its parts hold the answers.
    const continues = reply.parts.length > 0;
    // Killed before its first chunks were written (a continuation's: its reply's kept ones end with `finish`): the
    // reply starts again from its start chunk, the agent from 0.
    if (stream.size === 0 || (continues && stream.chunks.at(-1)?.chunk.type === 'finish')) {
      stream.push(startChunk(reply.id, c.id, user.id));
    }
    const regenerates = continues ? undefined : regenerateOf(reply);
    const done = this.run(c, user, reply, stream, { resumeFrom: agentChunks, regenerates, continues });
    this.room.gate.began(stream, done);
    this.room.ctx.waitUntil(done);
    this.heartbeat();
    log('info', 'reply resumed after a restart', {
      conversation_id: c.id,
      message_id: reply.id,
      from_chunk: stream.size,
      agent_chunks: agentChunks,
    });
    return true;
  }

  /** Runs the agent for one reply and ends it as complete, stopped or error; never throws. */
  private async run(
    c: ConversationRecord,
    user: Message,
    reply: Message,
    stream: ReplyStream,
    { resumeFrom, requestId, traceparent, regenerates, continues }: RunOptions,
  ): Promise<Message | null> {
    const config = this.room.config();
    const started = Date.now();
    let ttft: number | undefined;
    // A resumed reply's metadata so far is in the chunks it kept.
    let agentMetadata: Record<string, unknown> = {};
    for (const { chunk } of stream.chunks) agentMetadata = withAgentMetadata(agentMetadata, chunk);
    let status: Message['status'] = 'complete';
    let failure: { code: string; message: string } | undefined;
    try {
      const turn = {
        conversationId: c.id,
        userId: c.userId,
        messageId: reply.id,
        messages: continues
          ? this.room.history.continuing(this.room.store(), user, reply, config)
          : this.room.history.for(this.room.store(), user, config),
        continues: continues ? reply.id : undefined,
        idempotencyKey: continues
          ? `${reply.id}:${stream.chunks.findLastIndex((c) => c.chunk.type === 'start')}`
          : undefined,
        regenerates,
        resumeFrom,
        requestId,
        traceparent,
        progress: stream.progress,
      };
      for await (const chunk of streamAgent(config, turn, stream.abort.signal)) {
        if (ttft === undefined && resumeFrom === undefined) stream.keepResumable();
        ttft ??= Date.now() - started;
        agentMetadata = withAgentMetadata(agentMetadata, chunk as Chunk);
        stream.push(chunk as Chunk);
      }
    } catch (err) {
      if (stream.abort.signal.reason instanceof DeletedError) {
        // Readers of its SSE stream see it end as stopped (SPEC §5), not cut off: the sockets are closed already.
        stream.push({ type: 'abort' });
        await stream.end();
        this.room.gate.ended(stream);
        this.report(c, reply, stream, { status: 'deleted', started, ttft, requestId, traceparent });
        return null;
      }
      if (stream.abort.signal.aborted) {
        status = 'stopped';
      } else {
        status = 'error';
        // The bridge has logged an agent's failure, describeFailure anything else, with the request id. A resume the
        // agent refused leaves the reply as before.
        const described = describeFailure(err, { request_id: requestId, conversation_id: c.id, message_id: reply.id });
        failure =
          resumeFrom !== undefined && ttft === undefined
            ? { code: 'interrupted', message: `the reply was interrupted by a restart: ${described.message}` }
            : described;
      }
    }
    stream.push(
      status === 'complete'
        ? { type: 'finish' }
        : status === 'stopped'
          ? { type: 'abort' }
          : { type: 'error', errorText: failure?.message ?? 'the agent failed' },
    );
    const assembled = await stream.end();
    const metadata: Record<string, unknown> = {
      ...(continues ? withoutError(reply.metadata) : {}),
      ...(regenerates ? { regenerate_of: regenerates } : {}),
      ...agentMetadata,
      ttft_ms: ttft ?? null,
      duration_ms: Date.now() - started,
      ...(failure ? { error: failure } : {}),
    };
    const final = finalReply(reply, carryAnswers(partsOf(assembled), reply.parts), status, metadata);
    this.settle(stream, final);
    this.report(c, reply, stream, { status, started, ttft, failure, metadata, requestId, traceparent });
    this.room.ended();
    if (status === 'complete' && requested(final.parts).length > 0) {
      stream.seal();
      // The reply is stored whatever its remembered answers do: a failure there is logged, and leaves it waiting.
      try {
        this.room.asking(c, final, stream);
      } catch (err) {
        describeFailure(err, { conversation_id: c.id, message_id: reply.id });
      }
    } else {
      await stream.drop();
    }
    return final;
  }

  /** Keeps the room alive while a reply streams, and wakes it after a restart to resume it (HEARTBEAT_MS). */
  private heartbeat(): void {
    this.room.ctx.waitUntil(armAlarm(this.room.ctx.storage, HEARTBEAT_MS));
  }

  /**
   * The reply's one log line, where a reply ends (and its data point when metrics are bound): who, how it ended,
   * how soon and how long, what went over the wire, and the tokens when the agent reported usage.
   */
  private report(
    c: ConversationRecord,
    reply: Message,
    stream: ReplyStream,
    end: Trace & {
      status: string;
      started: number;
      ttft: number | undefined;
      failure?: { code: string } | undefined;
      metadata?: Record<string, unknown>;
    },
  ): void {
    const encoder = new TextEncoder();
    let bytes = 0;
    for (const { json } of stream.chunks) bytes += encoder.encode(json).byteLength;
    const usage = tokensOf(end.metadata?.usage);
    const durationMs = Date.now() - end.started;
    const code = end.failure?.code;
    log(end.status === 'error' ? 'warn' : 'info', 'reply', {
      conversation_id: c.id,
      user_id: c.userId,
      message_id: reply.id,
      status: end.status,
      ...(code ? { code } : {}),
      ttft_ms: end.ttft ?? null,
      duration_ms: durationMs,
      chunks: stream.size,
      bytes,
      ...usage,
      request_id: end.requestId ?? null,
      trace_id: traceIdOf(end.traceparent) ?? null,
      ...roomRows(this.room.ctx.storage),
    });
    this.room.metrics.reply({
      conversationId: c.id,
      status: end.status,
      code,
      durationMs,
      ttftMs: end.ttft,
      chunks: stream.size,
      bytes,
      tokens: usage.tokens,
    });
  }

  /** Stores a reply's final form, lets the next send in, and tells every socket. */
  private settle(stream: ReplyStream, final: Message): void {
    this.room.store().saveEndedReply(final);
    this.room.history.remember(final);
    this.room.gate.ended(stream);
    this.room.sockets.broadcast({ type: 'message', message: final });
    this.room.shared.written(final);
  }
}

/** The reply a regenerate's reply replaces, as its first row names it. */
function regenerateOf(reply: Message): string | undefined {
  const replaced = reply.metadata.regenerate_of;
  return typeof replaced === 'string' ? replaced : undefined;
}

/** A continued reply's metadata so far, without the failure of an earlier run. */
function withoutError(metadata: Record<string, unknown>): Record<string, unknown> {
  const { error: _error, ...rest } = metadata;
  return rest;
}

/** The parts of a message as the `ai` package assembled them (none when nothing was). */
const partsOf = (assembled: { parts: unknown[] } | null): Message['parts'] =>
  (assembled?.parts ?? []) as Message['parts'];

/** The agent's metadata so far, with what `chunk` adds to it. */
function withAgentMetadata(metadata: Record<string, unknown>, chunk: Chunk): Record<string, unknown> {
  if (chunk.type !== 'message-metadata' || !isRecord(chunk.messageMetadata)) return metadata;
  return { ...metadata, ...chunk.messageMetadata };
}

/**
 * The room's storage rows since it started, and the Durable Object requests of the isolate, when STORAGE_METER
 * counts them (bench/capacity.ts).
 */
function roomRows(storage: DurableObjectStorage): Record<string, unknown> {
  const rows = storageRows(storage);
  return rows ? { room_rows_read: rows.read, room_rows_written: rows.written, do_requests: requestCounts() } : {};
}

/** Token counts from the agent's `usage` metadata (the AI SDK's names, or OpenAI's), when it sent them. */
export function tokensOf(usage: unknown): { input_tokens?: number; output_tokens?: number; tokens?: number } {
  if (!isRecord(usage)) return {};
  const count = (...keys: string[]) => {
    for (const key of keys) if (typeof usage[key] === 'number') return usage[key] as number;
    return undefined;
  };
  const input = count('inputTokens', 'input_tokens', 'prompt_tokens');
  const output = count('outputTokens', 'output_tokens', 'completion_tokens');
  const total =
    count('totalTokens', 'total_tokens') ??
    (input !== undefined || output !== undefined ? (input ?? 0) + (output ?? 0) : undefined);
  return {
    ...(input === undefined ? {} : { input_tokens: input }),
    ...(output === undefined ? {} : { output_tokens: output }),
    ...(total === undefined ? {} : { tokens: total }),
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
