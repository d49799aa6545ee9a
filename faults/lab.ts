/**
 * The fault suite's bench: a whole stack from dev/stack.ts on free ports and throw-away storage, clients for every
 * way in (JSON, SSE, WebSocket), a direct line to its Postgres, and a tally of every 5xx any client saw.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createParser } from 'eventsource-parser';
import WebSocket from 'ws';
import { startJwksServer } from '../dev/jwks-server';
import { nodePool } from '../dev/migrate';
import { freePort } from '../dev/ports';
import { makeTempDataDir, type Stack, type StackOptions, startStack } from '../dev/stack';
import { API_BASE, type Message, PING_FRAME, type ServerFrame } from '../worker/wire';

/** High limits: the experiments test faults, not the rate limiter (which has its own tests). */
export const LAB_VARS: Record<string, string> = {
  RATE_LIMIT_USER_PER_MINUTE: '1000000',
  RATE_LIMIT_USER_BURST: '1000000',
  RATE_LIMIT_CONVERSATION_PER_MINUTE: '1000000',
  RATE_LIMIT_CONVERSATION_BURST: '1000000',
  RATE_LIMIT_WRITES_PER_MINUTE: '1000000',
  RATE_LIMIT_WRITES_BURST: '1000000',
  MAX_SOCKETS_PER_CONVERSATION: '64',
  LOG_LEVEL: 'error',
};

export interface Lab {
  stack: Stack;
  dataDir: string;
  /**
   * Where clients send their requests: wrangler's proxy (`stack.url`, what a browser uses) unless an experiment
   * sets `stack.directUrl()`, workerd itself.
   */
  url: string;
  /** The JWKS server the shared lab trusts besides AUTH_JWT_SECRET (dev/jwks-server.ts): its base URL. */
  jwksBase?: string;
  /**
   * Send a request again, once, when the connection it went out on was closed under it with no answer (see
   * isConnectionReset), and count it in `resetRetries`. Off by default: an experiment that checks what was stored
   * must see every failure.
   */
  retryResets: boolean;
  resetRetries: number;
  /** Every response or frame with a 5xx status (or close code 1011) any client of this lab saw. */
  serverErrors: string[];
  user(name?: string): Promise<User>;
  pg<T>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Stops the stack and says which of the processes it had started are still alive (none, when all is well). */
  stop(): Promise<string[]>;
}

/** A tmpfs most Linux machines have. */
const SHM = '/dev/shm';

/**
 * `inMemory`: the stack's files (the Durable Objects' SQLite among them) on tmpfs when the machine has one. A
 * Durable Object's commit syncs its SQLite file to the local disk, which Cloudflare's storage does not do on the
 * object's thread; with a thousand objects committing four times a second that sync, not the product, is what a
 * local run measures (faults/experiments/load.ts).
 */
export type LabOptions = Partial<StackOptions> & { inMemory?: boolean };

export async function startLab(vars: Record<string, string> = {}, labOptions: LabOptions = {}): Promise<Lab> {
  const { inMemory, ...opts } = labOptions;
  const ours = new Set(descendants(process.pid));
  const dataDir = await makeTempDataDir('agent-chat-faults-', inMemory && existsSync(SHM) ? SHM : undefined);
  const stack = await startStack({ port: 0, dataDir, quiet: true, vars: { ...LAB_VARS, ...vars }, ...opts });
  const pool = nodePool(stack.vars.DATABASE_URL ?? '', stack.vars.NEON_WS_PROXY);
  const serverErrors: string[] = [];
  let users = 0;
  const lab: Lab = {
    stack,
    url: stack.url,
    retryResets: false,
    resetRetries: 0,
    dataDir,
    serverErrors,
    user: async (name) => {
      const id = name ?? `faults-${process.pid}-${++users}-${crypto.randomUUID().slice(0, 8)}`;
      return new User(lab, id, await stack.devToken(id));
    },
    pg: async <T>(sql: string, params: unknown[] = []) => (await pool.query(sql, params)).rows as T[],
    stop: async () => {
      const before = descendants(process.pid).filter((pid) => !ours.has(pid));
      await pool.end().catch(() => undefined);
      await stack.stop();
      return before.filter(alive).map((pid) => `pid ${pid} (${commandOf(pid)}) still running`);
    },
  };
  return lab;
}

/** A lab lent to one experiment: `release` ends the loan and says which processes were left behind. */
export interface Lease {
  lab: Lab;
  release(): Promise<string[]>;
}

/**
 * The suite's labs. Starting a stack (Postgres, migrations, wrangler, workerd) costs 10+ s on a quiet 2-core
 * machine and much more on a loaded one, so the experiments that need no settings of their own borrow one shared
 * lab, one after another: it trusts the dev HS256 secret and a local JWKS (the auth matrix), has short-lived WebSocket
 * tickets (1 s, no other experiment uses tickets) and the dev agent. An experiment that stops Postgres or kills
 * workerd leaves it running again. Experiments that need other settings (agent timeouts, the timing agent) get a
 * lab of their own.
 */
export class Labs {
  private shared: Promise<Lab> | undefined;
  private closeJwks: (() => Promise<void>) | undefined;
  /** Stacks started, and the seconds they took to start. */
  readonly starts: number[] = [];

  private async start(vars: Record<string, string>, opts: LabOptions = {}): Promise<Lab> {
    const started = Date.now();
    const lab = await startLab(vars, opts);
    this.starts.push((Date.now() - started) / 1000);
    return lab;
  }

  /** The shared lab, started on first use. */
  async borrow(): Promise<Lease> {
    this.shared ??= this.startShared();
    const lab = await this.shared;
    return { lab, release: async () => [] };
  }

  private async startShared(): Promise<Lab> {
    const jwks = await startJwksServer({ port: await freePort() });
    this.closeJwks = () => jwks.close();
    const lab = await this.start({ AUTH_JWKS_URL: `${jwks.base}/.well-known/jwks.json`, WS_TICKET_TTL_SECONDS: '1' });
    lab.jwksBase = jwks.base;
    return lab;
  }

  /**
   * A lab of its own, stopped when the lease is released. The shared lab is stopped first: what an experiment
   * measures (workerd's memory, latency) is then its own stack's, on a machine no other stack of ours loads.
   */
  async own(vars: Record<string, string> = {}, opts: LabOptions = {}): Promise<Lease> {
    await this.stopShared();
    const lab = await this.start(vars, opts);
    return { lab, release: () => lab.stop() };
  }

  /** Processes the shared lab left behind when it stopped. */
  readonly leftBehind: string[] = [];

  /** Stops the shared lab, if it runs (borrow() starts a new one). */
  async stopShared(): Promise<void> {
    const shared = this.shared;
    this.shared = undefined;
    if (!shared) return;
    const lab = await shared.catch(() => undefined);
    const leftovers = lab ? await lab.stop() : [];
    await this.closeJwks?.().catch(() => undefined);
    this.leftBehind.push(...leftovers.map((l) => `the shared lab left behind: ${l}`));
  }
}

export interface Reply {
  status: number;
  body: unknown;
  text: string;
  headers: Headers;
}

export class User {
  constructor(
    readonly lab: Lab,
    readonly id: string,
    readonly token: string,
  ) {}

  /**
   * Any request to the API with this user's token (unless headers say otherwise); 5xx are tallied. With
   * `timeoutMs` it rejects once that has passed without a whole answer.
   */
  async call(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    timeoutMs?: number,
  ): Promise<Reply> {
    const full = /^\/(api\/|healthz|readyz)/.test(path) ? path : `${API_BASE}${path}`;
    const send = () =>
      fetch(`${this.lab.url}${full}`, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        body: body === undefined ? undefined : rawBody(body),
        signal: timeoutMs === undefined ? null : AbortSignal.timeout(timeoutMs),
      });
    const res = await send().catch((err: unknown) => {
      if (!this.lab.retryResets || !isConnectionReset(err)) throw err;
      this.lab.resetRetries++;
      return send();
    });
    const text = await res.text();
    noteStatus(this.lab, `${method} ${path}`, res.status, text);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: res.status, body: parsed, text, headers: res.headers };
  }

  async ok<T>(method: string, path: string, body?: unknown): Promise<T> {
    const r = await this.call(method, path, body);
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text.slice(0, 300)}`);
    return r.body as T;
  }

  async conversation(title = 'faults'): Promise<string> {
    return (await this.ok<{ id: string }>('POST', '/conversations', { title })).id;
  }

  /** The whole history through the API, page by page (after_seq), in seq order. */
  async history(conversationId: string): Promise<Message[]> {
    const all: Message[] = [];
    for (;;) {
      const page = await this.ok<{ messages: Message[]; has_more: boolean }>(
        'GET',
        `/conversations/${conversationId}/messages?limit=200&after_seq=${all.at(-1)?.seq ?? 0}`,
      );
      all.push(...page.messages);
      if (!page.has_more || page.messages.length === 0) return all;
    }
  }

  /** POST /messages with Accept: text/event-stream, read to its end (or cut after `cutAfter` events). */
  async sendSse(body: Record<string, unknown>, cutAfter?: number, onEvent?: () => void): Promise<SseRead> {
    return readSse(this, 'POST', '/messages', body, {}, cutAfter, onEvent);
  }

  /** GET …/stream, optionally from after Last-Event-ID. */
  async resumeSse(conversationId: string, lastEventId?: string, cutAfter?: number): Promise<SseRead> {
    const headers: Record<string, string> = lastEventId ? { 'last-event-id': lastEventId } : {};
    return readSse(this, 'GET', `/conversations/${conversationId}/stream`, undefined, headers, cutAfter);
  }

  async socket(conversationId: string): Promise<Socket> {
    return Socket.open(this, conversationId);
  }
}

export interface SseEvent {
  id: string | undefined;
  data: string;
}

export interface SseRead {
  status: number;
  events: SseEvent[];
  /** The status line's body when it was not a stream (an error envelope). */
  text: string;
  /** Whether the stream ended with data: [DONE]. */
  done: boolean;
}

async function readSse(
  user: User,
  method: string,
  path: string,
  body: unknown,
  headers: Record<string, string>,
  cutAfter?: number,
  onEvent?: () => void,
): Promise<SseRead> {
  const controller = new AbortController();
  const res = await fetch(`${user.lab.url}${API_BASE}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${user.token}`,
      accept: 'text/event-stream',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: controller.signal,
  });
  const type = res.headers.get('content-type') ?? '';
  if (!type.startsWith('text/event-stream') || !res.body) {
    const text = await res.text();
    noteStatus(user.lab, `${method} ${path}`, res.status, text);
    return { status: res.status, events: [], text, done: false };
  }
  const events: SseEvent[] = [];
  let done = false;
  const parser = createParser({
    onEvent: (e) => {
      if (e.data === '[DONE]') done = true;
      else events.push({ id: e.id, data: e.data });
      onEvent?.();
    },
  });
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  try {
    while (!done) {
      if (cutAfter !== undefined && events.length >= cutAfter) {
        controller.abort();
        events.length = cutAfter;
        break;
      }
      const { value, done: end } = await reader.read();
      if (end) break;
      parser.feed(decoder.decode(value, { stream: true }));
    }
  } catch (err) {
    if (!controller.signal.aborted) throw err;
  }
  if (!done) await reader.cancel().catch(() => undefined);
  return { status: res.status, events, text: '', done };
}

/** A WebSocket client that keeps every frame and lets a caller wait for the one that matters. */
export class Socket {
  readonly frames: ServerFrame[] = [];
  closed: { code: number; reason: string } | undefined;
  private waiters: Array<() => void> = [];

  private constructor(
    readonly user: User,
    readonly ws: WebSocket,
  ) {
    ws.on('message', (data, binary) => {
      if (binary) return;
      this.frames.push(JSON.parse(String(data)) as ServerFrame);
      this.wake();
    });
    // A real client pings (the room drops a socket that stays silent: 4408); this one does too.
    const pinger = setInterval(() => {
      if (ws.readyState === WebSocket.OPEN) ws.send(PING_FRAME);
    }, 5_000);
    ws.on('close', (code, reason) => {
      clearInterval(pinger);
      this.closed = { code, reason: String(reason) };
      if (code === 1011) user.lab.serverErrors.push(`WebSocket closed 1011: ${reason}`);
      this.wake();
    });
    ws.on('error', () => this.wake());
  }

  static async open(user: User, conversationId: string, headers: Record<string, string> = {}): Promise<Socket> {
    const url = `${user.lab.url.replace('http', 'ws')}${API_BASE}/conversations/${conversationId}/ws`;
    const ws = new WebSocket(url, {
      headers: { authorization: `Bearer ${user.token}`, ...headers },
      perMessageDeflate: false,
      maxPayload: 64 * 1024 * 1024,
    });
    const socket = new Socket(user, ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => {
        reject(new Error(`WebSocket upgrade refused: ${res.statusCode}`));
      });
      ws.once('error', reject);
    });
    await socket.until((f) => f.some((x) => x.type === 'ready'));
    return socket;
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Waits until `done` holds over the frames so far (or the socket closed); throws after timeoutMs. */
  async until(done: (frames: ServerFrame[]) => boolean, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.frames)) {
      if (this.closed) throw new Error(`socket closed (${this.closed.code} ${this.closed.reason}) while waiting`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for frames`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 1_000));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Resolves once the socket has closed. */
  async closedWith(timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
    await this.until(() => false, timeoutMs).catch(() => undefined);
    if (!this.closed) throw new Error('socket did not close');
    return this.closed;
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  close(): void {
    this.ws.close(1000);
  }

  /** Drops the TCP connection without a close handshake, as a lost network would. */
  cut(): void {
    this.ws.terminate();
  }
}

/**
 * The request went out on a kept-alive connection the server closed at that moment: workerd closes a connection
 * idle for 5 s, and Node's fetch keeps one for 4 s, timed from when it read the answer; on a starved machine the two
 * cross and the next request meets a closing socket ("other side closed", ECONNRESET).
 */
export function isConnectionReset(err: unknown): boolean {
  const code = (err as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  return code === 'UND_ERR_SOCKET' || code === 'ECONNRESET';
}

function rawBody(body: unknown): string | Blob {
  if (body instanceof Uint8Array) return new Blob([new Uint8Array(body)]);
  return typeof body === 'string' ? body : JSON.stringify(body);
}

function noteStatus(lab: Lab, what: string, status: number, text: string): void {
  if (status >= 500) lab.serverErrors.push(`${what} → ${status} ${text.slice(0, 200)}`);
}

/** The text a client assembles from a reply's chunks: its text deltas, in order. */
export function textOf(chunks: Array<{ type: string; delta?: unknown }>): string {
  return chunks.map((c) => (c.type === 'text-delta' && typeof c.delta === 'string' ? c.delta : '')).join('');
}

/** Process ids under `root` (children, grandchildren …), from /proc. */
export function descendants(root: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parentOf.set(Number(entry), ppid);
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length) {
    const parent = queue.shift();
    for (const [pid, ppid] of parentOf) {
      if (ppid === parent) {
        found.push(pid);
        queue.push(pid);
      }
    }
  }
  return found;
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').slice(0, 120);
  } catch {
    return '?';
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
