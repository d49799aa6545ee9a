import { base64url } from 'jose';
import type { Config } from '../config';
import { ApiError, toApiError } from '../errors';
import { MAX_FRAME_BYTES, type Message, type ServerFrame } from '../wire';
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
  ): Asker {
    if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket') {
      throw new ApiError('invalid_request', 'expected a WebSocket upgrade');
    }
    const ticketUser = ticket ? store.takeTicket(ticket) : null;
    const who = bearer ?? (ticketUser && target === store.conversation()?.id ? ticketUser : null);
    if (!who) {
      throw new ApiError('unauthorized', ticket ? 'the ticket is invalid, expired or used' : 'missing credentials');
    }
    return who;
  }

  /** Accepts a socket for `userId` and greets it with `ready` (which names the reply in flight, for it to resume). */
  accept(asker: Asker, ready: () => ServerFrame): Response {
    if (this.ctx.getWebSockets().length >= this.config().MAX_SOCKETS_PER_CONVERSATION) {
      throw new ApiError('too_many_connections', 'too many open connections to this conversation', { retryAfter: 5 });
    }
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment({
      userId: asker.userId,
      connectedAt: Date.now(),
      tokenExpiresAt: asker.tokenExpiresAt,
    } satisfies SocketAttachment);
    this.send(server, ready());
    return new Response(null, { status: 101, webSocket: client });
  }

  /**
   * A text frame from a socket and the user it was opened for; null when there is nothing to answer: a binary or
   * too-large frame (the socket is closed for it) or a socket the room does not know.
   */
  received(ws: WebSocket, data: string | ArrayBuffer): { userId: string; text: string } | null {
    if (typeof data !== 'string') {
      ws.close(1003, 'binary frames are not supported');
      return null;
    }
    if (data.length > MAX_FRAME_BYTES / 3 && new TextEncoder().encode(data).byteLength > MAX_FRAME_BYTES) {
      ws.close(1009, 'frame too large');
      return null;
    }
    const attachment = ws.deserializeAttachment() as SocketAttachment | null;
    return attachment ? { userId: attachment.userId, text: data } : null;
  }

  /** Every socket follows a reply that has just started, from its first chunk. */
  followAll(stream: ReplyStream): void {
    for (const ws of this.ctx.getWebSockets()) this.follow(ws, stream, 0);
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
        ws.close(4404, 'conversation deleted');
      } catch {
        // Already closing: nothing more to tell it.
      }
    }
  }

  /** A socket closed by its client: it follows nothing more, and the close handshake is answered. */
  closed(ws: WebSocket, code: number, reason: string, stream: ReplyStream | null): void {
    stream?.unsubscribe(ws);
    try {
      // Answer the close handshake, or the client waits for it until it times out.
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {
      // Already closed.
    }
  }

  failed(ws: WebSocket, stream: ReplyStream | null): void {
    stream?.unsubscribe(ws);
    try {
      ws.close(1011, 'socket error');
    } catch {
      // Already closed.
    }
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
        try {
          ws.close(4401, 'token expired');
        } catch {
          // Gone already.
        }
        continue;
      }
      const lastPing = this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? 0;
      const lastSign = Math.max(lastPing, attachment?.connectedAt ?? 0);
      if (now - lastSign > timeoutMs) {
        try {
          ws.close(4408, 'no ping received');
        } catch {
          // Gone already.
        }
      }
    }
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
