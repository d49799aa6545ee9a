/**
 * The REST client (SPEC §3): every call of the API, a token from `getToken()` before each request, a 401
 * retried once with a fresh token, and every answer checked against the wire protocol's schemas.
 */
import type { z } from 'zod';
import {
  API_BASE,
  type ApprovalBody,
  Conversation,
  type ConversationChange,
  ConversationList,
  ErrorEnvelope,
  type Feedback,
  HeadResult,
  Message,
  MessagePage,
  type MessagesWindow,
  SearchResults,
  type SendBody,
  SendResult,
  ShareLink,
  WsTicket,
} from '../../../worker/wire';

/** `POST …/approvals` as the client writes it: the answer to a tool's approval request (SPEC §9). */
export type ApprovalRequest = z.input<typeof ApprovalBody>;

/** `POST …/regenerate` as the client writes it. */
export interface RegenerateRequest {
  message_id: string;
  client_message_id?: string;
}

import { ChatError } from './errors';

/** Why a token is asked for: `refresh` after the server refused the last one (a 401, a socket closed 4401). */
export interface TokenRequest {
  refresh: boolean;
}

/**
 * The host's token provider, asked before every request and every (re)connect; the client never keeps a token,
 * so caching and refreshing are the host's. A throw or an empty answer is a `token_unavailable` ChatError.
 */
export type GetToken = (request: TokenRequest) => string | null | undefined | Promise<string | null | undefined>;

export interface ChatClientOptions {
  /** Where the Worker is, e.g. `https://chat.example.com`; the API is under `${baseUrl}/api/v1/chat`. */
  baseUrl: string;
  getToken: GetToken;
  /** Defaults to the global `fetch`. */
  fetch?: typeof fetch;
  /** A WebSocket constructor where there is no global one (Node 20: the `ws` package). */
  WebSocket?: unknown;
  /** Called when a request is refused 401 even with a fresh token: the person must sign in again. */
  onUnauthorized?: () => void;
}

export type { MessagesWindow, SendBody } from '../../../worker/wire';

export interface ListOptions {
  limit?: number;
  cursor?: string | null;
  /** Only the archived conversations (without it they are left out). */
  archived?: boolean;
}

function retryAfterSeconds(res: Response): number | null {
  const raw = res.headers.get('retry-after');
  if (!raw) return null;
  const n = Number(raw);
  return Number.isFinite(n) && n >= 0 ? Math.ceil(n) : null;
}

async function errorFrom(res: Response): Promise<ChatError> {
  const retryAfter = retryAfterSeconds(res);
  const parsed = ErrorEnvelope.safeParse(await res.json().catch(() => null));
  if (parsed.success) return new ChatError(parsed.data.error.code, parsed.data.error.message, res.status, retryAfter);
  return new ChatError('unexpected', `The server answered HTTP ${res.status}.`, res.status, retryAfter);
}

const path = (id: string) => encodeURIComponent(id);

export class ChatApi {
  readonly baseUrl: string;
  private readonly fetcher: typeof fetch;

  constructor(readonly options: ChatClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.fetcher = options.fetch ?? ((input, init) => fetch(input, init));
  }

  /** A token from the host, or a `token_unavailable` error that says why there is none. */
  async token(refresh = false): Promise<string> {
    let token: string | null | undefined;
    try {
      token = await this.options.getToken({ refresh });
    } catch (cause) {
      throw new ChatError('token_unavailable', 'No sign-in token could be obtained.', 0, null, { cause });
    }
    if (typeof token !== 'string' || token.length === 0) {
      throw new ChatError('token_unavailable', 'No sign-in token was handed over.', 0);
    }
    return token;
  }

  /** One API call; answers that are not 2xx become a ChatError. A 401 is tried once more with a fresh token. */
  async request(route: string, init: RequestInit = {}, refresh = false): Promise<Response> {
    const first = await this.attempt(route, init, refresh);
    if (first.status !== 401) return this.checked(first);
    await first.body?.cancel();
    const second = await this.attempt(route, init, true);
    if (second.status === 401) this.options.onUnauthorized?.();
    return this.checked(second);
  }

  private async attempt(route: string, init: RequestInit, refresh: boolean): Promise<Response> {
    const token = await this.token(refresh);
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${token}`);
    if (init.body !== undefined) headers.set('content-type', 'application/json');
    try {
      return await this.fetcher(`${this.baseUrl}${API_BASE}${route}`, { ...init, headers });
    } catch (cause) {
      if (init.signal?.aborted) throw cause;
      throw new ChatError('network', 'The chat service cannot be reached. Check your connection.', 0, null, { cause });
    }
  }

  private async checked(res: Response): Promise<Response> {
    if (res.ok) return res;
    throw await errorFrom(res);
  }

  private async json<T>(schema: z.ZodType<T>, route: string, init?: RequestInit, refresh = false): Promise<T> {
    const res = await this.request(route, init, refresh);
    const parsed = schema.safeParse(await res.json().catch(() => null));
    if (!parsed.success)
      throw new ChatError('unexpected', 'The server sent an answer this client does not understand.', res.status);
    return parsed.data;
  }

  /** `POST /conversations` → the new, empty conversation. */
  createConversation(body: { title?: string } = {}) {
    return this.json(Conversation, '/conversations', { method: 'POST', body: JSON.stringify(body) });
  }

  /** `GET /conversations`: pinned first, then newest activity first; `next_cursor` is null on the last page. */
  listConversations(options: ListOptions = {}) {
    const q = new URLSearchParams();
    if (options.limit !== undefined) q.set('limit', String(options.limit));
    if (options.cursor) q.set('cursor', options.cursor);
    if (options.archived) q.set('archived', 'true');
    return this.json(ConversationList, `/conversations?${q}`);
  }

  /**
   * `GET /search`: the person's messages and titles that match `q` (words, "phrases", -exclusions), best first.
   * Each snippet is plain text; its highlights are [start, end) ranges in code points.
   */
  search(q: string, options: { limit?: number; cursor?: string | null } = {}) {
    const query = new URLSearchParams({ q });
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.cursor) query.set('cursor', options.cursor);
    return this.json(SearchResults, `/search?${query}`);
  }

  /**
   * `GET /conversations/{id}/export`: Markdown of the active branch, or JSON of every branch and the feedback, as a
   * file to save (its name from the server's Content-Disposition).
   */
  async exportConversation(id: string, format: 'markdown' | 'json'): Promise<{ blob: Blob; filename: string }> {
    const res = await this.request(`/conversations/${path(id)}/export?format=${format}`);
    const disposition = res.headers.get('content-disposition') ?? '';
    const utf8 = /filename\*=UTF-8''([^;]+)/i.exec(disposition)?.[1];
    const plain = /filename="([^"]*)"/i.exec(disposition)?.[1];
    const filename = utf8 ? decodeURIComponent(utf8) : (plain ?? `conversation.${format === 'json' ? 'json' : 'md'}`);
    return { blob: await res.blob(), filename };
  }

  /** `POST /conversations/{id}/share`: the conversation's live, read-only public link (the same one when asked again). */
  share(id: string) {
    return this.json(ShareLink, `/conversations/${path(id)}/share`, { method: 'POST', body: '{}' });
  }

  /** `DELETE /conversations/{id}/share`: revokes the link; its open viewers are closed. */
  async unshare(id: string): Promise<void> {
    await this.request(`/conversations/${path(id)}/share`, { method: 'DELETE' });
  }

  getConversation(id: string) {
    return this.json(Conversation, `/conversations/${path(id)}`);
  }

  renameConversation(id: string, title: string) {
    return this.updateConversation(id, { title });
  }

  /** `PATCH /conversations/{id}`: rename, pin or archive. */
  updateConversation(id: string, change: ConversationChange) {
    return this.json(Conversation, `/conversations/${path(id)}`, {
      method: 'PATCH',
      body: JSON.stringify(change),
    });
  }

  async deleteConversation(id: string): Promise<void> {
    await this.request(`/conversations/${path(id)}`, { method: 'DELETE' });
  }

  /** A page of history in ascending seq: the newest `limit`, or those before / after a seq. */
  messages(id: string, window: MessagesWindow = {}) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(window)) if (v !== undefined) q.set(k, String(v));
    return this.json(MessagePage, `/conversations/${path(id)}/messages?${q}`);
  }

  /** Stops the conversation's reply in flight; false when none was. */
  async stop(id: string): Promise<boolean> {
    const res = await this.request(`/conversations/${path(id)}/stop`, { method: 'POST', body: '{}' });
    const body: unknown = await res.json().catch(() => null);
    return typeof body === 'object' && body !== null && (body as { stopped?: unknown }).stopped === true;
  }

  /** A one-use ticket for the conversation's socket; `refresh` when the last socket's token expired. */
  wsTicket(conversationId: string, refresh = false) {
    return this.json(
      WsTicket,
      '/ws-ticket',
      { method: 'POST', body: JSON.stringify({ conversation_id: conversationId }) },
      refresh,
    );
  }

  /** Sends and waits for the reply to end: `{conversation, message, reply}`. */
  send(body: SendBody, signal?: AbortSignal) {
    return this.json(SendResult, '/messages', { method: 'POST', body: JSON.stringify(body), signal });
  }

  /** Sends and answers with the reply as an SSE stream (SPEC §5); read it with `readReplyEvents`. */
  sendStream(body: SendBody, signal?: AbortSignal): Promise<Response> {
    return this.request('/messages', {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { accept: 'text/event-stream' },
      signal,
    });
  }

  /** A new reply to the user message that `body.message_id` (an assistant reply) answers; waits for it to end. */
  regenerate(conversationId: string, body: RegenerateRequest, signal?: AbortSignal) {
    return this.json(SendResult, `/conversations/${path(conversationId)}/regenerate`, {
      method: 'POST',
      body: JSON.stringify(body),
      signal,
    });
  }

  /** A regenerate answered with the new reply as an SSE stream (SPEC §5, §9); read it with `readReplyEvents`. */
  regenerateStream(conversationId: string, body: RegenerateRequest, signal?: AbortSignal): Promise<Response> {
    return this.request(`/conversations/${path(conversationId)}/regenerate`, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { accept: 'text/event-stream' },
      signal,
    });
  }

  /** `POST …/head`: the active branch becomes the one through `messageId` (its newest child at each step). */
  setHead(conversationId: string, messageId: string) {
    return this.json(HeadResult, `/conversations/${path(conversationId)}/head`, {
      method: 'POST',
      body: JSON.stringify({ message_id: messageId }),
    });
  }

  /**
   * `POST …/approvals`: approves or denies a tool call the agent asked about (`remember: "conversation"` answers
   * the same tool's later requests alike). The agent goes on in the same reply; this answers once it has ended.
   */
  approve(conversationId: string, body: ApprovalRequest, signal?: AbortSignal) {
    return this.json(SendResult, `/conversations/${path(conversationId)}/approvals`, {
      method: 'POST',
      body: JSON.stringify(body),
      signal,
    });
  }

  /** `PUT /messages/{id}/feedback`: thumbs up or down on a reply that has ended, with an optional comment. */
  setFeedback(messageId: string, body: { rating: Feedback['rating']; comment?: string }) {
    return this.json(Message, `/messages/${path(messageId)}/feedback`, { method: 'PUT', body: JSON.stringify(body) });
  }

  /** `DELETE /messages/{id}/feedback`: the reply's rating and comment removed. */
  async clearFeedback(messageId: string): Promise<void> {
    await this.request(`/messages/${path(messageId)}/feedback`, { method: 'DELETE' });
  }

  /** The in-flight reply as SSE, from after `lastEventId`; null when none is in flight (204). */
  async stream(id: string, lastEventId: string | null, signal?: AbortSignal): Promise<Response | null> {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (lastEventId) headers['last-event-id'] = lastEventId;
    const res = await this.request(`/conversations/${path(id)}/stream`, { headers, signal });
    return res.status === 204 ? null : res;
  }

  /** The socket URL for a ticket, on the API's origin (relative base URLs resolve against the page). */
  wsUrl(conversationId: string, ticket: string): string {
    const page = typeof location === 'undefined' ? undefined : location.href;
    const url = new URL(`${this.baseUrl}${API_BASE}/conversations/${path(conversationId)}/ws`, page);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('ticket', ticket);
    return url.toString();
  }
}
