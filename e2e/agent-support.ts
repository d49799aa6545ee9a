/** The product's REST API, as the agent suites use it against a whole stack (no browser). */
import type { UIMessageChunk } from 'ai';
import type { z } from 'zod';
import type { Stack } from '../dev/stack';
import { sseEvents } from '../dev/testing';
import type { Message, SendResult as SendResultSchema } from '../worker/wire';

export type SendResult = z.infer<typeof SendResultSchema>;

export interface ChunkEvent {
  id: string | undefined;
  chunk: UIMessageChunk | '[DONE]';
}

export interface ApiClient {
  /** POST /messages as JSON: answers when the reply has ended. */
  send(content: string, conversationId?: string): Promise<SendResult>;
  /** POST /messages with Accept: text/event-stream; `onEvent` sees each event as it arrives. */
  sendStreaming(content: string, onEvent?: (event: ChunkEvent) => void): Promise<ChunkEvent[]>;
  /** GET …/stream from after `lastEventId` (a client resuming), every event until the stream ends. */
  resume(conversationId: string, lastEventId: string): Promise<ChunkEvent[]>;
  stop(conversationId: string): Promise<{ stopped: boolean }>;
  /** POST …/approvals as JSON: answers when the reply, gone on, has ended. */
  approve(
    conversationId: string,
    body: { approval_id: string; approved: boolean; reason?: string },
  ): Promise<SendResult>;
  messages(conversationId: string): Promise<Message[]>;
}

const API = '/api/v1/chat';

export async function apiClient(stack: Pick<Stack, 'url' | 'devToken'>, userId: string): Promise<ApiClient> {
  const token = await stack.devToken(userId);
  const call = async (method: string, path: string, body?: unknown, accept = 'application/json', extra = {}) => {
    const res = await fetch(`${stack.url}${API}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept, ...extra },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
    return res;
  };
  return {
    send: async (content, conversationId) =>
      (await (await call('POST', '/messages', { content, conversation_id: conversationId })).json()) as SendResult,
    sendStreaming: async (content, onEvent) =>
      readChunks(await call('POST', '/messages', { content }, 'text/event-stream'), onEvent),
    resume: async (id, lastEventId) =>
      readChunks(
        await call('GET', `/conversations/${id}/stream`, undefined, 'text/event-stream', {
          'last-event-id': lastEventId,
        }),
      ),
    approve: async (id, body) =>
      (await (await call('POST', `/conversations/${id}/approvals`, body)).json()) as SendResult,
    stop: async (id) => (await (await call('POST', `/conversations/${id}/stop`, {})).json()) as { stopped: boolean },
    messages: async (id) =>
      ((await (await call('GET', `/conversations/${id}/messages?limit=200`)).json()) as { messages: Message[] })
        .messages,
  };
}

/** Every SSE event of a response until it ends, each chunk parsed. */
async function readChunks(res: Response, onEvent?: (event: ChunkEvent) => void): Promise<ChunkEvent[]> {
  const events: ChunkEvent[] = [];
  for await (const e of sseEvents(res)) {
    const event: ChunkEvent = {
      id: e.id ?? undefined,
      chunk: e.data === '[DONE]' ? '[DONE]' : (JSON.parse(e.data) as UIMessageChunk),
    };
    events.push(event);
    onEvent?.(event);
  }
  return events;
}

/** The types of a message's parts, in order. */
export const partTypes = (m: Message) => m.parts.map((p) => p.type);
