/**
 * Shared by the workerd test suites: tokens, calls through the real Worker, WebSocket readers (the SSE reader,
 * user ids and the control server's client are dev/testing.ts, shared with the Node suites).
 * Nothing here is mocked: calls go through the Worker's fetch, the room, the dev agent and Postgres.
 */
import { env, exports } from 'cloudflare:workers';
import { SignJWT } from 'jose';
import { expect } from 'vitest';
import { control as controlAt } from '../dev/testing';
import { loadConfig } from './config';
import { sqlQuery } from './db/client';
import { API_BASE, type Conversation, type Message, ServerFrame } from './wire';

export { allEvents, firstEvents, type SseEvent, sseEvents, uniqueUser } from '../dev/testing';

/** The test-only bindings that vitest.config.ts hands the pool. */
export const testEnv = env as unknown as Record<string, string>;
export const ORIGIN = 'http://127.0.0.1:8787';

/** A token for `userId`: valid for an hour, or as `times` says (seconds since the epoch). */
export async function tokenFor(userId: string, times: { iat?: number; exp?: number } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuer(testEnv.AUTH_ISSUER ?? '')
    .setAudience(testEnv.AUTH_AUDIENCE ?? '')
    .setIssuedAt(times.iat ?? now)
    .setExpirationTime(times.exp ?? now + 3600)
    .sign(new TextEncoder().encode(testEnv.AUTH_JWT_SECRET ?? ''));
}

export interface CallOptions {
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
}

function sendBody(conversationId: string | undefined, content: string, clientMessageId: string | undefined) {
  return {
    ...(conversationId ? { conversation_id: conversationId } : {}),
    content,
    ...(clientMessageId ? { client_message_id: clientMessageId } : {}),
  };
}

/** A user's client for the REST API, through the Worker's own fetch handler. */
export function client(userId: string) {
  const token = tokenFor(userId);
  const call = async (method: string, path: string, opts: CallOptions = {}): Promise<Response> => {
    const headers: Record<string, string> = { authorization: `Bearer ${await token}`, ...opts.headers };
    let body: string | undefined = opts.raw;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] ??= 'application/json';
    }
    return exports.default.fetch(new Request(`${ORIGIN}${API_BASE}${path}`, { method, headers, body }));
  };
  const json = async <T>(method: string, path: string, opts: CallOptions = {}, status = 200): Promise<T> => {
    const res = await call(method, path, opts);
    const text = await res.text();
    expect(res.status, `${method} ${path} → ${text}`).toBe(status);
    return (text ? JSON.parse(text) : null) as T;
  };
  return {
    userId,
    token,
    call,
    json,
    createConversation: (title?: string) =>
      json<Conversation>('POST', '/conversations', { body: title === undefined ? {} : { title } }, 201),
    send: (conversationId: string | undefined, content: string, clientMessageId?: string) =>
      json<{ conversation: Conversation; message: Message; reply: Message }>('POST', '/messages', {
        body: sendBody(conversationId, content, clientMessageId),
      }),
    /** POST /messages asking for the reply as an SSE stream (SPEC §5). */
    sendStreaming: (conversationId: string | undefined, content: string, clientMessageId?: string) =>
      call('POST', '/messages', {
        body: sendBody(conversationId, content, clientMessageId),
        headers: { accept: 'text/event-stream' },
      }),
    history: (conversationId: string, q = '') =>
      json<{ messages: Message[]; has_more: boolean }>('GET', `/conversations/${conversationId}/messages${q}`),
  };
}
export type Client = ReturnType<typeof client>;

/** An open WebSocket with every frame it has received, and a way to wait for the next that matches. */
export class TestSocket {
  readonly frames: ServerFrame[] = [];
  closed: { code: number; reason: string } | null = null;
  private waiters: Array<() => void> = [];

  constructor(readonly ws: WebSocket) {
    ws.addEventListener('message', (e) => {
      this.frames.push(ServerFrame.parse(JSON.parse(String(e.data))));
      this.wake();
    });
    ws.addEventListener('close', (e) => {
      this.closed = { code: e.code, reason: e.reason };
      this.wake();
    });
  }

  private wake() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Waits until `done(frames)` holds (or the socket closes, or the time runs out). */
  async until(done: (frames: ServerFrame[]) => boolean, timeoutMs = 10_000): Promise<ServerFrame[]> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.frames)) {
      if (this.closed) throw new Error(`socket closed (${this.closed.code}) while waiting`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; frames: ${JSON.stringify(this.frames).slice(0, 2000)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.frames;
  }

  async next<T extends ServerFrame['type']>(type: T, after = 0): Promise<Extract<ServerFrame, { type: T }>> {
    await this.until((f) => f.slice(after).some((x) => x.type === type));
    return this.frames.slice(after).find((x) => x.type === type) as Extract<ServerFrame, { type: T }>;
  }

  async closedWith(timeoutMs = 5_000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    if (!this.closed) throw new Error('socket did not close');
    return this.closed;
  }

  close(): void {
    try {
      this.ws.close(1000, 'done');
    } catch {
      // Already closed.
    }
  }
}

/** Opens the conversation's socket through the Worker; a refusal returns the Response instead. */
export async function openSocket(
  conversationId: string,
  auth: { userId?: string; ticket?: string },
  headers: Record<string, string> = {},
): Promise<TestSocket | Response> {
  const h: Record<string, string> = { upgrade: 'websocket', ...headers };
  if (auth.userId) h.authorization = `Bearer ${await tokenFor(auth.userId)}`;
  const q = auth.ticket ? `?ticket=${encodeURIComponent(auth.ticket)}` : '';
  const res = await exports.default.fetch(
    new Request(`${ORIGIN}${API_BASE}/conversations/${conversationId}/ws${q}`, { headers: h }),
  );
  if (!res.webSocket) return res;
  res.webSocket.accept();
  return new TestSocket(res.webSocket);
}

export async function mustOpen(conversationId: string, userId: string): Promise<TestSocket> {
  const s = await openSocket(conversationId, { userId });
  if (!(s instanceof TestSocket)) throw new Error(`socket refused: ${s.status} ${await s.text()}`);
  await s.next('ready');
  return s;
}

/** Postgres, as the tests see it: the same driver and proxy the Worker uses. */
export async function pgQuery<T = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
  return sqlQuery<T>(loadConfig(env), text, params);
}

/** The test Postgres, driven through dev/control-server.ts (stop, start, pause, resume, fresh databases). */
export function control<T = unknown>(path: string): Promise<T> {
  return controlAt(testEnv.TEST_CONTROL_URL ?? '', path);
}

export async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The text of a `!dev words=N` answer as the dev agent produces it, read from a finished reply. */
export function wordsOf(text: string): string[] {
  return text.split(/\s+/).filter(Boolean);
}
