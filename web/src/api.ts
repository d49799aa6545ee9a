/** The REST client: every response body is checked against the wire protocol's schemas. */
import type { z } from 'zod';
import {
  API_BASE,
  Conversation,
  ConversationList,
  ErrorEnvelope,
  MessagePage,
  SendResult,
  WsTicket,
} from '../../worker/wire';

export type FailureCode = z.infer<typeof ErrorEnvelope>['error']['code'] | 'network' | 'unexpected';

/** A failed call, as the person should hear about it. */
export class ApiFailure extends Error {
  constructor(
    readonly code: FailureCode,
    message: string,
    readonly status: number,
    /** Seconds to wait, from Retry-After (429) */
    readonly retryAfter: number | null = null,
  ) {
    super(message);
  }
}

function retryAfterSeconds(res: Response): number | null {
  const raw = res.headers.get('retry-after');
  if (!raw) return null;
  const n = Number(raw);
  return Number.isFinite(n) && n >= 0 ? Math.ceil(n) : null;
}

export async function failureFrom(res: Response): Promise<ApiFailure> {
  const retryAfter = retryAfterSeconds(res);
  const parsed = ErrorEnvelope.safeParse(await res.json().catch(() => null));
  if (parsed.success) return new ApiFailure(parsed.data.error.code, parsed.data.error.message, res.status, retryAfter);
  return new ApiFailure('unexpected', `The server answered HTTP ${res.status}.`, res.status, retryAfter);
}

export interface MessagesWindow {
  limit?: number;
  before_seq?: number;
  after_seq?: number;
}

export interface SendBody {
  conversation_id?: string;
  content: string;
  client_message_id: string;
}

export class ChatApi {
  constructor(
    private readonly getToken: () => Promise<string>,
    private readonly onUnauthorized: () => void,
  ) {}

  async request(path: string, init: RequestInit = {}): Promise<Response> {
    const token = await this.getToken();
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${token}`);
    if (init.body !== undefined) headers.set('content-type', 'application/json');
    let res: Response;
    try {
      res = await fetch(`${API_BASE}${path}`, { ...init, headers });
    } catch (cause) {
      if (init.signal?.aborted) throw cause;
      throw new ApiFailure('network', 'The server cannot be reached. Check your connection.', 0);
    }
    if (res.ok) return res;
    const failure = await failureFrom(res);
    if (failure.code === 'unauthorized') this.onUnauthorized();
    throw failure;
  }

  private async json<T>(schema: z.ZodType<T>, path: string, init?: RequestInit): Promise<T> {
    const res = await this.request(path, init);
    const parsed = schema.safeParse(await res.json().catch(() => null));
    if (!parsed.success)
      throw new ApiFailure('unexpected', 'The server sent a reply this page does not understand.', 0);
    return parsed.data;
  }

  listConversations(cursor: string | null, limit = 30) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (cursor) q.set('cursor', cursor);
    return this.json(ConversationList, `/conversations?${q}`);
  }

  getConversation(id: string) {
    return this.json(Conversation, `/conversations/${id}`);
  }

  renameConversation(id: string, title: string) {
    return this.json(Conversation, `/conversations/${id}`, { method: 'PATCH', body: JSON.stringify({ title }) });
  }

  async deleteConversation(id: string): Promise<void> {
    await this.request(`/conversations/${id}`, { method: 'DELETE' });
  }

  messages(id: string, window: MessagesWindow = {}) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(window)) if (v !== undefined) q.set(k, String(v));
    return this.json(MessagePage, `/conversations/${id}/messages?${q}`);
  }

  async stop(id: string): Promise<void> {
    await this.request(`/conversations/${id}/stop`, { method: 'POST', body: '{}' });
  }

  wsTicket(conversationId: string) {
    return this.json(WsTicket, '/ws-ticket', {
      method: 'POST',
      body: JSON.stringify({ conversation_id: conversationId }),
    });
  }

  /** Send and wait for the reply to end (the polling fallback's send). */
  sendJson(body: SendBody, signal?: AbortSignal) {
    return this.json(SendResult, '/messages', { method: 'POST', body: JSON.stringify(body), signal });
  }

  /** Send and read the reply as an SSE stream (SPEC §5). */
  sendStream(body: SendBody, signal: AbortSignal): Promise<Response> {
    return this.request('/messages', {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { accept: 'text/event-stream' },
      signal,
    });
  }

  /** The in-flight reply as SSE, from after `lastEventId`; null when none is in flight (204). */
  async stream(id: string, lastEventId: string | null, signal: AbortSignal): Promise<Response | null> {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (lastEventId) headers['last-event-id'] = lastEventId;
    const res = await this.request(`/conversations/${id}/stream`, { headers, signal });
    return res.status === 204 ? null : res;
  }

  wsUrl(conversationId: string, ticket: string): string {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${scheme}//${location.host}${API_BASE}/conversations/${conversationId}/ws?ticket=${encodeURIComponent(ticket)}`;
  }
}
