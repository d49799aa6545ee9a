import { base64url } from 'jose';
import type { Config } from '../config';
import { ApiError, toApiError } from '../errors';
import { log } from '../log';
import type { Metrics } from '../metrics';
import { continueTrace, traceIdOf } from '../trace';
import { type Conversation, MAX_FRAME_BYTES, type Message, type ServerFrame } from '../wire';
import { armAlarm } from './alarm';
import type { ReplyStream } from './reply-stream';
import type { RoomStore } from './store';

/** Who opens a socket, and when their token stops being good (ms since the epoch): then it is closed with 4401. */
export interface Asker {
  userId: string;
  tokenExpiresAt: number;
}

interface SocketAttachment {
  userId: string;
  connectedAt: number;
  tokenExpiresAt?: number;
  conversationId?: string;
  requestId?: string;
  /** The upgrade's traceparent: a send on the socket continues its trace. */
  traceparent?: string;
}

/** The upgrade's request id and traceparent, from the edge (worker/chat.ts): the connect and close lines carry them. */
export interface UpgradeTrace {
  requestId?: string | undefined;
  traceparent?: string | undefined;
}

/** How often, at most, the room looks for sockets that stopped pinging (WS_PING_TIMEOUT_SECONDS). */
const SOCKET_SWEEP_MS = 60_000;

/**
 * The room's WebSockets (hibernatable, so the sockets outlive the room in memory): who may open one (the edge's
 * user, or a one-time ticket a browser got by POST /ws-ticket), the fan-out of frames and of the reply in flight,
 * resume onto a reply, and the sweep that drops clients who stopped pinging.
 */
export class RoomSockets {
  constructor(
    private readonly ctx: DurableObjectState,
    private readonly config: () => Config,
    private readonly metrics: Metrics,
  ) {}

  /**
   * A ticket for one upgrade of `asker` onto this conversation, for WS_TICKET_TTL_SECONDS; its socket lives until
   * the token that asked for the ticket expires.
   */
  issueTicket(store: RoomStore, conversationId: string, asker: Asker): { ticket: string; expires_in: number } {
    const ttl = this.config().WS_TICKET_TTL_SECONDS;
    const secret = base64url.encode(crypto.getRandomValues(new Uint8Array(32)));
    // The ticket names its room, so an attempt on any conversation reaches the room that can use it up.
    const ticket = `${conversationId}.${secret}`;
    store.addTicket(ticket, asker.userId, Date.now() + ttl * 1000, asker.tokenExpiresAt);
    return { ticket, expires_in: ttl };
  }

  /**
   * Whom the edge's upgrade request is for: its user (x-user-id, with x-token-expires-at), or its `?ticket=` for
   * `?conversation=` (see upgrader).
   */
  askerOf(store: RoomStore, request: Request): Asker {
    const q = new URL(request.url).searchParams;
    const userId = request.headers.get('x-user-id');
    const bearer = userId ? { userId, tokenExpiresAt: Number(request.headers.get('x-token-expires-at')) } : null;
    return this.upgrader(store, request, bearer, q.get('ticket'), q.get('conversation'));
  }

  /**
   * Whom an upgrade is for: the edge's authenticated user, or a ticket's. A ticket is used up by any attempt, and
   * one for another conversation (`target`) is refused.
   */
  upgrader(
    store: RoomStore,
    request: Request,
    bearer: Asker | null,
    ticket: string | null,
    target: string | null,
  ): Asker & UpgradeTrace {
    if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket') {
      throw new ApiError('invalid_request', 'expected a WebSocket upgrade');
    }
    const ticketUser = ticket ? store.takeTicket(ticket) : null;
    const who = bearer ?? (ticketUser && target === store.conversation()?.id ? ticketUser : null);
    if (!who) {
      throw new ApiError('unauthorized', ticket ? 'the ticket is invalid, expired or used' : 'missing credentials');
    }
    return {
      ...who,
      requestId: request.headers.get('x-request-id') ?? undefined,
      traceparent: request.headers.get('traceparent') ?? undefined,
    };
  }

  /**
   * Accepts a socket for `userId` and greets it with `ready` (which names the reply in flight, for it to resume);
   * the room's alarm is armed for the sweep.
   */
  accept(asker: Asker & UpgradeTrace, ready: () => ServerFrame): Response {
    if (this.ctx.getWebSockets().length >= this.config().MAX_SOCKETS_PER_CONVERSATION) {
      throw new ApiError('too_many_connections', 'too many open connections to this conversation', { retryAfter: 5 });
    }
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server);
    const frame = ready();
    const attachment: SocketAttachment = {
      userId: asker.userId,
      connectedAt: Date.now(),
      tokenExpiresAt: asker.tokenExpiresAt,
      ...(frame.type === 'ready' ? { conversationId: frame.conversation.id } : {}),
      ...(asker.requestId ? { requestId: asker.requestId } : {}),
      ...(asker.traceparent ? { traceparent: asker.traceparent } : {}),
    };
    server.serializeAttachment(attachment);
    this.send(server, frame);
    const open = this.open;
    log('info', 'ws connect', { ...socketFields(attachment), open });
    this.metrics.socket({ conversationId: attachment.conversationId ?? '', event: 'open', open });
    // The sweep that drops clients who stopped pinging, or whose token ran out, runs from the alarm while sockets are open.
    this.ctx.waitUntil(armAlarm(this.ctx.storage, this.sweepInMs()));
    return new Response(null, { status: 101, webSocket: client });
  }

  /**
   * A text frame from a socket and the user it was opened for; null when there is nothing to answer: a binary or
   * too-large frame (the socket is closed for it) or a socket the room does not know.
   */
  received(ws: WebSocket, data: string | ArrayBuffer): { userId: string; text: string } | null {
    if (typeof data !== 'string') {
      this.close(ws, 1003, 'binary frames are not supported');
      return null;
    }
    if (data.length > MAX_FRAME_BYTES / 3 && new TextEncoder().encode(data).byteLength > MAX_FRAME_BYTES) {
      this.close(ws, 1009, 'frame too large');
      return null;
    }
    const attachment = ws.deserializeAttachment() as SocketAttachment | null;
    return attachment ? { userId: attachment.userId, text: data } : null;
  }

  /** A new span of the trace the socket's upgrade was in (a new trace when it had none), for a send it makes. */
  traceparentOf(ws: WebSocket): string {
    return continueTrace((ws.deserializeAttachment() as SocketAttachment | null)?.traceparent).traceparent;
  }

  /** Every socket follows a reply that has just started, from its first chunk (a continuation's: `from`). */
  followAll(stream: ReplyStream, from = 0): void {
    for (const ws of this.ctx.getWebSockets()) this.follow(ws, stream, from);
  }

  /**
   * Re-syncs a socket onto a reply: chunks from `from` in order, then live, when it is the one in flight; a reply
   * that already ended answers with its final message (`stored`); an unknown id with not_found.
   */
  async resume(
    ws: WebSocket,
    live: ReplyStream | null,
    messageId: string,
    from: number,
    stored: () => Promise<Message | null>,
  ): Promise<void> {
    if (live && live.messageId === messageId) {
      this.follow(ws, live, from);
      return;
    }
    const message = await stored();
    if (!message) throw new ApiError('not_found', 'no such message in this conversation');
    this.send(ws, { type: 'message', message });
  }

  broadcast(frame: ServerFrame): void {
    const text = JSON.stringify(frame);
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.send(text);
      } catch {
        // A socket that is closing misses nothing it can still use.
      }
    }
  }

  send(ws: WebSocket, frame: ServerFrame): void {
    try {
      ws.send(JSON.stringify(frame));
    } catch {
      // Closing.
    }
  }

  /** Answers a frame that failed with an error frame, naming the frame's client_message_id when it had one. */
  refuse(ws: WebSocket, err: unknown, text: string): void {
    this.send(ws, toApiError(err, { where: 'frame' }).toFrame(clientIdOf(text)));
  }

  /** Tells every socket the conversation is gone and closes it. */
  closeAllDeleted(): void {
    const frame = JSON.stringify({ type: 'deleted' } satisfies ServerFrame);
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.send(frame);
      } catch {
        // Already closing: nothing more to tell it.
      }
      this.close(ws, 4404, 'conversation deleted');
    }
  }

  /** A socket closed by its client: it follows nothing more, and the close handshake is answered. */
  closed(ws: WebSocket, code: number, reason: string, stream: ReplyStream | null): void {
    stream?.unsubscribe(ws);
    // The client's answer to a close the room began was logged when the room began it.
    if (this.closing.has(ws)) {
      this.closing.delete(ws);
    } else {
      this.logClose(ws, code, reason, 'client');
    }
    try {
      // Answer the close handshake, or the client waits for it until it times out.
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {
      // Already closed.
    }
  }

  failed(ws: WebSocket, stream: ReplyStream | null): void {
    stream?.unsubscribe(ws);
    this.close(ws, 1011, 'socket error');
  }

  get open(): number {
    return this.ctx.getWebSockets().length;
  }

  /** When the sweep is next due from the alarm while sockets are open: regularly, or when a token runs out. */
  sweepInMs(now = Date.now()): number {
    let due = Math.min(SOCKET_SWEEP_MS, this.config().WS_PING_TIMEOUT_SECONDS * 1000);
    for (const ws of this.ctx.getWebSockets()) {
      const expiresAt = (ws.deserializeAttachment() as SocketAttachment | null)?.tokenExpiresAt;
      if (expiresAt) due = Math.min(due, Math.max(0, expiresAt - now));
    }
    return due;
  }

  /**
   * Drops sockets whose client has stopped pinging (a half-open socket would otherwise hold a slot forever), and
   * closes those whose token has run out with token_expired and 4401 (SPEC §4): a socket must not outlive the
   * right to open it.
   */
  sweep(now = Date.now()): void {
    const timeoutMs = this.config().WS_PING_TIMEOUT_SECONDS * 1000;
    for (const ws of this.ctx.getWebSockets()) {
      const attachment = ws.deserializeAttachment() as SocketAttachment | null;
      if (attachment?.tokenExpiresAt && attachment.tokenExpiresAt <= now) {
        this.send(ws, new ApiError('token_expired', 'the token has expired; reconnect with a fresh one').toFrame());
        this.close(ws, 4401, 'token expired');
        continue;
      }
      const lastPing = this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? 0;
      const lastSign = Math.max(lastPing, attachment?.connectedAt ?? 0);
      if (now - lastSign > timeoutMs) this.close(ws, 4408, 'no ping received');
    }
  }

  /**
   * Sockets the room has begun to close, whose client's answer is still to come (in memory: after a hibernation
   * the answer is logged a second time, as the client's).
   */
  private readonly closing = new WeakSet<WebSocket>();

  /** The room closes a socket: one `ws close` line, by the room. */
  private close(ws: WebSocket, code: number, reason: string): void {
    try {
      ws.close(code, reason);
    } catch {
      // Gone already: its close was logged then.
      return;
    }
    this.closing.add(ws);
    this.logClose(ws, code, reason, 'room');
  }

  private logClose(ws: WebSocket, code: number, reason: string, by: 'client' | 'room'): void {
    const attachment = ws.deserializeAttachment() as SocketAttachment | null;
    const durationMs = attachment ? Date.now() - attachment.connectedAt : null;
    // The socket that closes is still among the room's until its handler returns.
    const open = this.ctx.getWebSockets().filter((s) => s !== ws && !this.closing.has(s)).length;
    log('info', 'ws close', { ...socketFields(attachment), code, reason, by, duration_ms: durationMs, open });
    this.metrics.socket({
      conversationId: attachment?.conversationId ?? '',
      event: 'close',
      code,
      open,
      durationMs: durationMs ?? undefined,
    });
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
}

/** The client_message_id of a frame's text, even one that failed to parse as a frame. */
function clientIdOf(data: string): string | undefined {
  try {
    const raw = JSON.parse(data) as { client_message_id?: unknown };
    return typeof raw.client_message_id === 'string' ? raw.client_message_id : undefined;
  } catch {
    return undefined;
  }
}

function socketFields(a: SocketAttachment | null): Record<string, unknown> {
  return {
    conversation_id: a?.conversationId ?? null,
    user_id: a?.userId ?? null,
    request_id: a?.requestId ?? null,
    trace_id: traceIdOf(a?.traceparent) ?? null,
  };
}

/** The first frame a socket gets: the conversation, the last seq of its active branch, and the reply in flight. */
export function readyFrame(conversation: Conversation, lastSeq: number, live: ReplyStream | null): ServerFrame {
  return {
    type: 'ready',
    conversation,
    last_seq: lastSeq,
    streaming: live ? { message_id: live.messageId, next_index: live.size } : null,
  };
}
