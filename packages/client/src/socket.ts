/**
 * The conversation's WebSocket (SPEC §4) through partysocket's reconnecting socket: a fresh ticket before
 * every (re)connect, a client-side ping so a silently dead socket is noticed, and a verdict when sockets
 * keep failing so the store can fall back to SSE and polling.
 */
import ReconnectingWebSocket from 'partysocket/ws';
import { type ClientFrame, PING_FRAME, ServerFrame } from '../../../worker/wire';
import type { ChatApi } from './api';
import { isChatError } from './errors';

const PING_EVERY_MS = 20_000;
const PONG_WITHIN_MS = 10_000;
/** Connection attempts that never open before the socket is given up for the fallbacks. */
const ATTEMPTS_BEFORE_FALLBACK = 3;
const CLOSE_DELETED = 4404;
/** The token the socket was opened with has expired (SPEC §4): reconnect with a fresh one and resume. */
const CLOSE_TOKEN_EXPIRED = 4401;

export interface SocketEvents {
  frame(frame: ServerFrame): void;
  open(): void;
  down(): void;
  /** Sockets keep failing here (blocked by a proxy, refused): use SSE and polling instead. */
  giveUp(): void;
  /** The conversation is gone (deleted, or never ours). */
  gone(): void;
  /** No token for the next connect (getToken failed, or the server refused a fresh one). */
  signedOut(error: unknown): void;
}

export class ConversationSocket {
  private readonly ws: ReconnectingWebSocket;
  private opened = false;
  private closed = false;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private pongTimer: ReturnType<typeof setTimeout> | undefined;
  /** The next ticket is asked for with a fresh token (the last one expired). */
  private refreshToken = false;

  constructor(
    private readonly api: ChatApi,
    private readonly conversationId: string,
    private readonly events: SocketEvents,
  ) {
    this.ws = new ReconnectingWebSocket(() => this.nextUrl(), null, {
      // Sends while closed go over HTTP instead; a queued send replayed later would race them.
      maxEnqueuedMessages: 0,
      minReconnectionDelay: 400 + Math.random() * 800,
      maxReconnectionDelay: 10_000,
      reconnectionDelayGrowFactor: 1.6,
      connectionTimeout: 6_000,
      shouldReconnectOnClose: (event) => event.code !== CLOSE_DELETED,
      ...(api.options.WebSocket ? { WebSocket: api.options.WebSocket } : {}),
    });
    this.ws.addEventListener('open', this.onOpen);
    this.ws.addEventListener('message', this.onMessage);
    this.ws.addEventListener('close', this.onFailure);
    this.ws.addEventListener('error', this.onFailure);
  }

  get isOpen(): boolean {
    return this.ws.readyState === ReconnectingWebSocket.OPEN;
  }

  /** False when the socket is not open: the caller uses HTTP instead. */
  send(frame: ClientFrame): boolean {
    if (!this.isOpen) return false;
    return this.ws.send(JSON.stringify(frame));
  }

  reconnect(): void {
    if (!this.closed) this.ws.reconnect();
  }

  close(): void {
    this.closed = true;
    this.stopHeartbeat();
    this.ws.removeEventListener('open', this.onOpen);
    this.ws.removeEventListener('message', this.onMessage);
    this.ws.removeEventListener('close', this.onFailure);
    this.ws.removeEventListener('error', this.onFailure);
    this.ws.close();
  }

  private async nextUrl(): Promise<string> {
    try {
      const refresh = this.refreshToken;
      this.refreshToken = false;
      const { ticket } = await this.api.wsTicket(this.conversationId, refresh);
      return this.api.wsUrl(this.conversationId, ticket);
    } catch (error) {
      if (isChatError(error, 'not_found')) queueMicrotask(() => this.goneNow());
      if (isChatError(error, 'token_unavailable') || isChatError(error, 'unauthorized')) {
        queueMicrotask(() => this.events.signedOut(error));
      }
      throw error;
    }
  }

  private goneNow(): void {
    if (this.closed) return;
    this.close();
    this.events.gone();
  }

  private readonly onOpen = (): void => {
    this.opened = true;
    this.startHeartbeat();
    this.events.open();
  };

  private readonly onMessage = (event: MessageEvent): void => {
    this.alive();
    if (typeof event.data !== 'string') return;
    let json: unknown;
    try {
      json = JSON.parse(event.data);
    } catch {
      return;
    }
    const frame = ServerFrame.safeParse(json);
    if (!frame.success || frame.data.type === 'pong') return;
    if (frame.data.type === 'deleted') {
      this.goneNow();
      return;
    }
    this.events.frame(frame.data);
  };

  private readonly onFailure = (event: Event): void => {
    if (this.closed) return;
    this.stopHeartbeat();
    const code = 'code' in event ? event.code : undefined;
    if (code === CLOSE_DELETED) {
      this.goneNow();
      return;
    }
    if (code === CLOSE_TOKEN_EXPIRED) this.refreshToken = true;
    const wasOpen = this.opened;
    this.opened = false;
    // partysocket counts attempts since the last connection that stayed up; a socket that opens and is
    // dropped at once counts too, which is what a hostile proxy looks like.
    if (!wasOpen && this.ws.retryCount >= ATTEMPTS_BEFORE_FALLBACK) {
      this.close();
      this.events.giveUp();
      return;
    }
    this.events.down();
  };

  private startHeartbeat(): void {
    this.stopHeartbeat();
    this.pingTimer = setInterval(() => {
      if (!this.isOpen) return;
      this.ws.send(PING_FRAME);
      this.pongTimer ??= setTimeout(() => {
        this.pongTimer = undefined;
        // No answer: the socket is dead even if the browser has not noticed (a sleeping laptop, a NAT drop).
        this.ws.reconnect();
      }, PONG_WITHIN_MS);
    }, PING_EVERY_MS);
  }

  private alive(): void {
    clearTimeout(this.pongTimer);
    this.pongTimer = undefined;
  }

  private stopHeartbeat(): void {
    clearInterval(this.pingTimer);
    this.alive();
  }
}
