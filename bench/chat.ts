/**
 * Chat benchmarks (issues: chat core, real time) against the real local stack: `wrangler dev` (workerd),
 * embedded Postgres through the Neon proxy, and a timing agent that speaks the AgentCore bridge over real
 * HTTP (bench/timing-agent.ts, its own process) and notes when it wrote each chunk. It prints figures and
 * ratios to their targets; it asserts nothing.
 *
 *   npm run bench                           (all suites)
 *   npx tsx bench/chat.ts relay fanout      (some)
 *   npx tsx bench/chat.ts --direct relay    (clients skip wrangler's proxy; see workerSocket)
 */
import { execFileSync } from 'node:child_process';
import WebSocket from 'ws';
import { nodePool } from '../dev/migrate';
import { makeTempDataDir, type Stack, startStack } from '../dev/stack';
import { sseEvents } from '../dev/testing';
import { API_BASE, type ServerFrame } from '../worker/wire';
import { type AgentRun, now, startTimingAgent, type TimingAgent } from './timing-agent';

// ------------------------------------------------------------------ clients

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class Socket {
  readonly frames: Array<{ at: number; frame: ServerFrame }> = [];
  private waiters: Array<() => void> = [];
  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.frames.push({ at: now(), frame: JSON.parse(String(data)) as ServerFrame });
      for (const w of this.waiters.splice(0)) w();
    });
  }
  static async open(stack: Stack, conversationId: string, token: string): Promise<Socket> {
    const url = `${stack.url.replace('http', 'ws')}${API_BASE}/conversations/${conversationId}/ws`;
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
    const socket = new Socket(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    await socket.until((f) => f.some((x) => x.frame.type === 'ready'));
    return socket;
  }
  async until(done: (f: Socket['frames']) => boolean, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.frames)) {
      if (Date.now() > deadline) throw new Error('timed out waiting for frames');
      await new Promise<void>((r) => {
        const t = setTimeout(r, 200);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
  send(frame: unknown) {
    this.ws.send(JSON.stringify(frame));
  }
  close() {
    this.ws.close(1000);
  }
}

const replyEnded = (id: string) => (f: Socket['frames']) =>
  f.some((x) => x.frame.type === 'message' && x.frame.message.id === id && x.frame.message.status !== 'streaming');

async function api<T>(stack: Stack, token: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${stack.url}${API_BASE}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Sends over the socket and waits for the reply's id. */
async function sendOver(s: Socket, content: string): Promise<string> {
  const from = s.frames.length;
  s.send({ type: 'send', content, client_message_id: crypto.randomUUID() });
  await s.until((f) => f.slice(from).some((x) => x.frame.type === 'message' && x.frame.message.role === 'assistant'));
  const m = s.frames.slice(from).find((x) => x.frame.type === 'message' && x.frame.message.role === 'assistant');
  if (m?.frame.type !== 'message') throw new Error('no reply');
  const err = s.frames.slice(from).find((x) => x.frame.type === 'error');
  if (err) throw new Error(`send failed: ${JSON.stringify(err.frame)}`);
  return m.frame.message.id;
}

/** Latencies from the agent writing chunk K to the client receiving it. */
function deltaLatencies(s: Socket, replyId: string, run: AgentRun): number[] {
  const out: number[] = [];
  for (const { at, frame } of s.frames) {
    if (frame.type !== 'chunk' || frame.message_id !== replyId || frame.chunk.type !== 'text-delta') continue;
    const k = Number(/^w(\d+)/.exec(String(frame.chunk.delta))?.[1]);
    const emitted = run.emits[k];
    if (emitted !== undefined) out.push(at - emitted);
  }
  return out;
}

/** The same agent read directly over loopback SSE: the hop the room's relay is compared with. */
async function directLatencies(agent: TimingAgent, prompt: string) {
  const messageId = crypto.randomUUID();
  const started = now();
  const res = await fetch(agent.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({
      conversation_id: crypto.randomUUID(),
      user_id: 'bench',
      message_id: messageId,
      messages: [{ id: 'u', role: 'user', parts: [{ type: 'text', text: prompt }] }],
    }),
  });
  const received: Array<[number, number]> = [];
  let firstDeltaAt: number | undefined;
  for await (const event of sseEvents(res)) {
    const at = now();
    const k = /"delta":"w(\d+)/.exec(event.data)?.[1];
    if (k !== undefined) {
      firstDeltaAt ??= at;
      received.push([Number(k), at]);
    }
  }
  const run = await agent.run(messageId);
  if (!run) throw new Error('agent saw no run');
  return {
    latencies: received.map(([k, at]) => at - (run.emits[k] ?? at)),
    firstDelta: (firstDeltaAt ?? started) - started,
  };
}

// ------------------------------------------------------------------ figures

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}
const ms = (x: number) => `${x.toFixed(3)} ms`;
function report(name: string, value: number, target: number, unit: 'ms' | '/s', better: 'lower' | 'higher') {
  const ok = better === 'lower' ? value <= target : value >= target;
  const ratio = better === 'lower' ? value / target : target / value;
  const shown = unit === 'ms' ? ms(value) : `${Math.round(value)} /s`;
  const goal = unit === 'ms' ? `≤ ${target} ms` : `≥ ${target} /s`;
  console.log(`  ${ok ? 'PASS' : 'MISS'}  ${name}: ${shown} (target ${goal}; ratio ${ratio.toFixed(2)})`);
}

// ------------------------------------------------------------------ suites

interface Ctx {
  stack: Stack;
  agent: TimingAgent;
  token: string;
}

async function newConversation(ctx: Ctx, token = ctx.token): Promise<string> {
  return (await api<{ id: string }>(ctx.stack, token, 'POST', '/conversations', {})).id;
}

async function relay(ctx: Ctx) {
  console.log('relay: agent writes a chunk → a WebSocket client has it (1 socket, 5 replies × 200 chunks)');
  const id = await newConversation(ctx);
  const s = await Socket.open(ctx.stack, id, ctx.token);
  const via: number[] = [];
  for (let i = 0; i < 5; i++) {
    const replyId = await sendOver(s, '!dev words=200 delay_ms=3');
    await s.until(replyEnded(replyId));
    const run = await ctx.agent.run(replyId);
    if (run) via.push(...deltaLatencies(s, replyId, run));
  }
  s.close();
  const direct: number[] = [];
  for (let i = 0; i < 5; i++) {
    direct.push(...(await directLatencies(ctx.agent, '!dev words=200 delay_ms=3')).latencies);
  }
  console.log(`  via the room: p50 ${ms(pct(via, 50))}, p99 ${ms(pct(via, 99))} (n=${via.length})`);
  console.log(`  agent read directly: p50 ${ms(pct(direct, 50))}, p99 ${ms(pct(direct, 99))}`);
  report('relay overhead p50', pct(via, 50) - pct(direct, 50), 0.6, 'ms', 'lower');
  report('relay overhead p99', pct(via, 99) - pct(direct, 99), 3, 'ms', 'lower');
}

async function firstChunk(ctx: Ctx) {
  console.log('first chunk: send → first agent chunk at the client, beyond the agent’s own first-chunk time');
  console.log(
    '  (150 sends over 3 conversations, each followed by the same request made to the agent directly, both after',
  );
  console.log('  a 100 ms pause, as a person pauses between messages)');
  // The agent writes its whole answer at once: the hardest case for the first delta, which queues behind the rest.
  const burst = await firstChunkWith(ctx, '!dev words=2');
  console.log(`  send → first chunk via WebSocket: p50 ${ms(pct(burst.viaWs, 50))}, p99 ${ms(pct(burst.viaWs, 99))}`);
  console.log(`  of which send → user message committed and echoed: p50 ${ms(pct(burst.toCommit, 50))}`);
  console.log(`  and send → the agent has the request: p50 ${ms(pct(burst.toAgent, 50))}`);
  console.log(`  the agent asked directly, request → first chunk: p50 ${ms(pct(burst.direct, 50))}`);
  console.log(
    `  (asked back to back instead, as sessions 1–3 measured it: p50 ${ms(pct(burst.backToBack, 50))}, so beyond it ` +
      `${ms(pct(burst.viaWs, 50) - pct(burst.backToBack, 50))})`,
  );
  console.log(`  (agent's own time from request arrival to first chunk: p50 ${ms(pct(burst.agentOwn, 50))})`);
  console.log(`  and the agent writes the first delta → the client has it: p50 ${ms(pct(burst.relayed, 50))}`);
  // The dev agent's own pace for plain prompts: 10 ms before each chunk, so its first delta comes alone.
  const paced = await firstChunkWith(ctx, '!dev words=2 delay_ms=10');
  const pacedBeyond = pct(paced.viaWs, 50) - pct(paced.direct, 50);
  console.log(`  at the dev agent's default pace (10 ms a chunk), beyond the agent: p50 ${ms(pacedBeyond)}`);
  report('send → first chunk beyond the agent, p50', pct(burst.viaWs, 50) - pct(burst.direct, 50), 3, 'ms', 'lower');
}

async function firstChunkWith(ctx: Ctx, prompt: string) {
  const figures = {
    viaWs: [] as number[],
    agentOwn: [] as number[],
    toCommit: [] as number[],
    toAgent: [] as number[],
    relayed: [] as number[],
    direct: [] as number[],
  };
  // Three conversations, and each send paired with a direct request right after it: the machine's pace drifts
  // over a run, and two phases measured a minute apart would charge that drift to the room or to the agent.
  for (let round = 0; round < 3; round++) {
    const id = await newConversation(ctx);
    const s = await Socket.open(ctx.stack, id, ctx.token);
    for (let i = 0; i < 60; i++) {
      // A person does not send within a millisecond of the last reply: the room's Postgres write for it is done.
      await sleep(100);
      const from = s.frames.length;
      const sentAt = now();
      const replyId = await sendOver(s, prompt);
      await s.until(replyEnded(replyId));
      const first = s.frames
        .slice(from)
        .find((x) => x.frame.type === 'chunk' && x.frame.message_id === replyId && x.frame.chunk.type === 'text-delta');
      const run = await ctx.agent.run(replyId);
      const committed = s.frames.slice(from).find((x) => x.frame.type === 'message');
      // The same pause before the direct request: a request after a pause is slower than one right after another.
      await sleep(100);
      const direct = await directLatencies(ctx.agent, prompt);
      if (first && run?.firstChunkAt && committed && i >= 10) {
        figures.viaWs.push(first.at - sentAt);
        figures.toCommit.push(committed.at - sentAt);
        figures.toAgent.push(run.arrivedAt - sentAt);
        figures.agentOwn.push(run.firstChunkAt - run.arrivedAt);
        figures.relayed.push(first.at - run.firstChunkAt);
        figures.direct.push(direct.firstDelta);
      }
    }
    s.close();
  }
  // How sessions 1–3 measured the agent: requests back to back, none after a pause.
  const backToBack: number[] = [];
  for (let i = 0; i < 60; i++) {
    const d = await directLatencies(ctx.agent, prompt);
    if (i >= 10) backToBack.push(d.firstDelta);
  }
  return { ...figures, backToBack };
}

async function fanout(ctx: Ctx) {
  console.log('fan-out: 100 sockets on one conversation, one reply at 50 chunks/s for 5 s');
  const id = await newConversation(ctx);
  const sockets = await Promise.all(Array.from({ length: 100 }, () => Socket.open(ctx.stack, id, ctx.token)));
  const [sender] = sockets;
  if (!sender) return;
  const replyId = await sendOver(sender, '!dev words=250 delay_ms=20');
  await Promise.all(sockets.map((s) => s.until(replyEnded(replyId))));
  const run = await ctx.agent.run(replyId);
  const all: number[] = [];
  let complete = 0;
  for (const s of sockets) {
    if (run) all.push(...deltaLatencies(s, replyId, run));
    if (s.frames.filter((x) => x.frame.type === 'chunk' && x.frame.message_id === replyId).length === 254) complete++;
    s.close();
  }
  console.log(`  ${complete}/100 sockets got all 254 chunks; p50 ${ms(pct(all, 50))} (n=${all.length})`);
  report('100 sockets at 50 chunks/s, p99', pct(all, 99), 20, 'ms', 'lower');
}

async function many(ctx: Ctx) {
  console.log('many: 500 conversations streaming at once (20 chunks each at 20/s), one socket each');
  const ids: string[] = [];
  for (let i = 0; i < 500; i += 50) {
    ids.push(...(await Promise.all(Array.from({ length: 50 }, () => newConversation(ctx)))));
  }
  const sockets: Socket[] = [];
  for (let i = 0; i < ids.length; i += 50) {
    sockets.push(...(await Promise.all(ids.slice(i, i + 50).map((id) => Socket.open(ctx.stack, id, ctx.token)))));
  }
  const started = now();
  const replies = await Promise.all(sockets.map((s) => sendOver(s, '!dev words=20 delay_ms=50')));
  await Promise.all(sockets.map((s, i) => s.until(replyEnded(replies[i] ?? ''), 120_000)));
  const took = now() - started;
  let errors = 0;
  let complete = 0;
  sockets.forEach((s, i) => {
    errors += s.frames.filter((x) => x.frame.type === 'error').length;
    const end = s.frames.find(
      (x) => x.frame.type === 'message' && x.frame.message.id === replies[i] && x.frame.message.status !== 'streaming',
    );
    if (end?.frame.type === 'message' && end.frame.message.status === 'complete') complete++;
    s.close();
  });
  console.log(`  ${complete}/500 replies complete, ${errors} error frames, all done in ${Math.round(took)} ms`);
  console.log(
    `  ${complete === 500 && errors === 0 ? 'PASS' : 'MISS'}  500 conversations streaming at once with no error`,
  );
}

async function creates(ctx: Ctx) {
  console.log('creates: 500 conversations created at once, then the list read 30 times (no target; robustness)');
  const call = (method: string, path: string) =>
    fetch(`${ctx.stack.url}${API_BASE}${path}`, {
      method,
      headers: { authorization: `Bearer ${ctx.token}`, 'content-type': 'application/json' },
      body: method === 'POST' ? '{}' : undefined,
      signal: AbortSignal.timeout(60_000),
    });
  const statuses = new Map<string, number>();
  const took: number[] = [];
  await Promise.all(
    Array.from({ length: 500 }, async () => {
      const started = now();
      const status = await call('POST', '/conversations').then(
        async (res) => {
          await res.text();
          return String(res.status);
        },
        (err: Error) => err.name,
      );
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      took.push(now() - started);
    }),
  );
  console.log(
    `  answers: ${[...statuses].map(([k, v]) => `${v} × ${k}`).join(', ')}; p50 ${ms(pct(took, 50))}, p99 ${ms(pct(took, 99))}`,
  );
  const lists: number[] = [];
  for (let i = 0; i < 30; i++) {
    const started = now();
    await (await call('GET', '/conversations?limit=20')).text();
    lists.push(now() - started);
  }
  console.log(`  list of 20 afterwards: p50 ${ms(pct(lists, 50))}`);
}

async function history(ctx: Ctx) {
  console.log('history: a page of 50 from a 10,000-message conversation');
  const id = await newConversation(ctx);
  const s = await Socket.open(ctx.stack, id, ctx.token);
  const started = now();
  for (let i = 0; i < 5_000; i++) {
    const replyId = await sendOver(s, `!dev words=1\nmessage ${i}`);
    await s.until(replyEnded(replyId));
    s.frames.length = 0;
  }
  s.close();
  console.log(`  filled 10,000 messages in ${((now() - started) / 1000).toFixed(1)} s`);
  const times: number[] = [];
  for (let i = 0; i < 300; i++) {
    const before = i % 3 === 0 ? '' : `&before_seq=${1 + Math.floor(Math.random() * 10_000)}`;
    const t0 = now();
    const page = await api<{ messages: unknown[] }>(
      ctx.stack,
      ctx.token,
      'GET',
      `/conversations/${id}/messages?limit=50${before}`,
    );
    const t = now() - t0;
    if (i >= 20) times.push(t);
    if (page.messages.length === 0 && before === '') throw new Error('empty history');
  }
  console.log(`  p99 ${ms(pct(times, 99))}`);
  report('history page of 50, p50', pct(times, 50), 15, 'ms', 'lower');
}

async function drain(ctx: Ctx) {
  console.log('outbox drain: 1,000 messages written during a Postgres outage, then flushed');
  const ids = await Promise.all(Array.from({ length: 10 }, () => newConversation(ctx)));
  const sockets = await Promise.all(ids.map((id) => Socket.open(ctx.stack, id, ctx.token)));
  await ctx.stack.postgres.stop();
  await Promise.all(
    sockets.map(async (s) => {
      for (let i = 0; i < 50; i++) {
        const replyId = await sendOver(s, `!dev words=1\n${i}`);
        await s.until(replyEnded(replyId));
      }
    }),
  );
  await ctx.stack.postgres.start();
  const pool = nodePool(ctx.stack.vars.DATABASE_URL ?? '', ctx.stack.vars.NEON_WS_PROXY);
  const count = async () =>
    Number(
      (
        await pool.query(
          'select count(*)::int as n from conversation_messages where conversation_id = any($1::uuid[])',
          [ids],
        )
      ).rows[0]?.n ?? 0,
    );
  // One more send in each room kicks its outbox at once, instead of waiting for the retry alarm.
  const t0 = now();
  await Promise.all(sockets.map((s) => sendOver(s, '!dev words=1\nkick')));
  let n = await count();
  while (n < 1_020 && now() - t0 < 60_000) {
    await sleep(5);
    n = await count();
  }
  const took = now() - t0;
  for (const s of sockets) s.close();
  await pool.end();
  console.log(`  ${n} rows in Postgres ${Math.round(took)} ms after Postgres came back and the rooms were nudged`);
  report('outbox drain', (n / took) * 1000, 1_000, '/s', 'higher');
}

const SUITES: Record<string, (ctx: Ctx) => Promise<void>> = {
  relay,
  firstChunk,
  fanout,
  many,
  creates,
  history,
  drain,
};

/**
 * The worker's own socket inside `wrangler dev`. The public port belongs to wrangler's proxy, a second workerd
 * process that every request and WebSocket frame crosses; production has no such hop. Wrangler does not print
 * the inner address, so this asks `ss` for workerd's sockets and takes the one that answers /healthz.
 * Diagnostic only: the figures that count are measured through the public port.
 */
async function workerSocket(stack: Stack): Promise<string> {
  const listening = execFileSync('ss', ['-ltnpH'], { encoding: 'utf8' });
  for (const [, port] of listening.matchAll(/127\.0\.0\.1:(\d+)\s.*"workerd"/g)) {
    const url = `http://127.0.0.1:${port}`;
    if (url === stack.url) continue;
    const health = await fetch(`${url}/healthz`).catch(() => null);
    if (health?.headers.get('content-type')?.includes('application/json')) return url;
  }
  throw new Error('no workerd socket answers /healthz');
}

export async function runChatBench(names: string[] = Object.keys(SUITES), direct = false): Promise<void> {
  const agent = await startTimingAgent();
  const stack = await startStack({
    port: 0,
    quiet: true,
    dataDir: await makeTempDataDir('agent-chat-bench-'),
    vars: {
      AGENTCORE_URL: agent.url,
      LOG_LEVEL: 'warn',
      RATE_LIMIT_USER_PER_MINUTE: '1000000',
      RATE_LIMIT_USER_BURST: '1000000',
      RATE_LIMIT_CONVERSATION_PER_MINUTE: '1000000',
      RATE_LIMIT_CONVERSATION_BURST: '1000000',
      MAX_SOCKETS_PER_CONVERSATION: '128',
    },
  });
  if (direct) {
    stack.url = await workerSocket(stack);
    console.log(`direct: clients talk to the worker at ${stack.url}, not through wrangler's proxy`);
  }
  const ctx: Ctx = { stack, agent, token: await stack.devToken('bench') };
  try {
    for (const name of names) {
      const suite = SUITES[name];
      if (!suite) throw new Error(`no suite ${name}; have ${Object.keys(SUITES).join(', ')}`);
      await suite(ctx);
    }
  } finally {
    await stack.stop();
    await agent.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const names = args.filter((a) => a !== '--direct');
  runChatBench(names.length ? names : undefined, args.includes('--direct')).catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
