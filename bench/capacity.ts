/**
 * What one reply costs, measured: N replies over a WebSocket through a local stack (dev/stack.ts, the dev agent,
 * embedded Postgres behind the local Neon HTTP endpoint), after one warm-up reply that is not counted. Per reply it
 * prints the room's storage rows read and written (STORAGE_METER: each SQL statement's own rowsRead/rowsWritten,
 * and a row per key for the key-value calls, as billed), the Durable Object requests (STORAGE_METER counts every
 * call into a room or a quota object, by method), the Postgres HTTP requests and statements the outbox sent
 * (counted by dev/neon-http.ts) and their bytes, the bytes the client received and sent over the WebSocket, and
 * the chunks and bytes of the reply's stream (its `reply` log line). It asserts nothing.
 *
 * CPU: the user + system time of the workerd process that serves the Worker and its Durable Objects (found by the
 * port it listens on; every thread), read from /proc before and after, less its idle rate (measured with the
 * sockets open, at the end) times the phase's duration. The dev agent, the Neon HTTP endpoint and the client run in
 * this process and Postgres in its own, so none of them is in the Worker's figure; theirs are printed apart. The
 * phases: the N replies one at a time over one socket; N replies over --concurrency conversations at once (each
 * its own socket); then --reads history pages (50 messages) and conversation lists (20), one at a time.
 *
 *   npx tsx bench/capacity.ts [--replies 20] [--words 100] [--delay-ms 25] [--concurrency 10] [--reads 100]
 *     [--idle-ms 30000] [--meter on|off]
 *
 * A reply of W words streams one text-delta per word, delay-ms apart: 100 words at 25 ms is a 2.5 s reply.
 * `--meter off` runs without STORAGE_METER (no row or request counts; CPU without the meter's own cost).
 * Every wait has a deadline and the stack is stopped whatever happens: a run either prints or fails saying why.
 */
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { makeTempDataDir, type Stack, startStack } from '../dev/stack';
import { API_BASE, PING_FRAME, PONG_FRAME, type ServerFrame } from '../worker/wire';
import { listeningPid, loadAverage, treeCpu, treeCpuMs } from './process-cpu';

const { values: args } = parseArgs({
  options: {
    replies: { type: 'string', default: '20' },
    words: { type: 'string', default: '100' },
    'delay-ms': { type: 'string', default: '25' },
    concurrency: { type: 'string', default: '10' },
    reads: { type: 'string', default: '100' },
    'idle-ms': { type: 'string', default: '30000' },
    meter: { type: 'string', default: 'on' },
  },
});
const REPLIES = Number(args.replies);
const WORDS = Number(args.words);
const DELAY_MS = Number(args['delay-ms']);
const CONCURRENCY = Number(args.concurrency);
const READS = Number(args.reads);
const IDLE_MS = Number(args['idle-ms']);
const METER = args.meter !== 'off';
const REPLY_TIMEOUT_MS = 60_000 + WORDS * DELAY_MS;

type Line = Record<string, unknown>;

/** The Worker's JSON log lines, and a way to wait for one. */
class WorkerLog {
  readonly lines: Line[] = [];
  private waiters: Array<() => void> = [];

  take(text: string): void {
    // wrangler prints each console line as it came; ours are JSON objects.
    const start = text.indexOf('{');
    if (start < 0) return;
    try {
      this.lines.push(JSON.parse(text.slice(start)) as Line);
    } catch {
      return;
    }
    for (const w of this.waiters.splice(0)) w();
  }

  async find(match: (l: Line) => boolean, timeoutMs: number, what: string): Promise<Line> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(match);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no ${what} in the Worker's log within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 200);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
}

/** One WebSocket with the bytes it has received and sent. */
class Socket {
  frames: ServerFrame[] = [];
  bytesIn = 0;
  bytesOut = 0;
  closed: string | undefined;
  private readonly pings: ReturnType<typeof setInterval>;
  private constructor(private readonly ws: WebSocket) {
    // As packages/client does, or the room closes the socket (4408) after WS_PING_TIMEOUT_SECONDS. The room's
    // auto-response answers without waking it; the pings are not in the byte counts (a socket's upkeep, not a reply's).
    this.pings = setInterval(() => {
      if (ws.readyState === WebSocket.OPEN) ws.send(PING_FRAME);
    }, 20_000);
    ws.on('close', (code: number, reason: Buffer) => {
      clearInterval(this.pings);
      this.closed = `closed ${code} ${String(reason)}`;
    });
    ws.on('message', (data: Buffer) => {
      if (String(data) === PONG_FRAME) return;
      this.bytesIn += data.byteLength;
      this.frames.push(JSON.parse(String(data)) as ServerFrame);
    });
  }

  static async open(stack: Stack, conversationId: string, token: string): Promise<Socket> {
    const url = `${stack.url.replace('http', 'ws')}${API_BASE}/conversations/${conversationId}/ws`;
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
    const socket = new Socket(ws);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('the WebSocket did not open within 30 s')), 30_000);
      ws.once('open', () => {
        clearTimeout(t);
        resolve();
      });
      ws.once('error', reject);
    });
    return socket;
  }

  send(frame: unknown): void {
    const text = JSON.stringify(frame);
    this.bytesOut += Buffer.byteLength(text);
    this.ws.send(text);
  }

  /** Waits for the reply to `clientMessageId` to end; its id. */
  async replyEnded(userMessageId: () => string | undefined, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const user = userMessageId();
      const ended = this.frames.find(
        (f) =>
          f.type === 'message' &&
          f.message.role === 'assistant' &&
          f.message.reply_to === user &&
          f.message.status !== 'streaming',
      );
      if (user && ended?.type === 'message') return ended.message.id;
      if (Date.now() > deadline) {
        const last = this.frames.slice(-3).map((f) => JSON.stringify(f).slice(0, 200));
        const socket = this.closed ?? 'open';
        throw new Error(
          `the reply did not end within ${timeoutMs} ms (socket ${socket}; last frames: ${last.join(' ')})`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  close(): void {
    clearInterval(this.pings);
    this.ws.terminate();
  }
}

/** Waits until the Postgres counts stop moving for `quietMs` (the outbox has flushed), within a deadline. */
async function settled(stack: Stack, quietMs = 1_500, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last = JSON.stringify(stack.neonCounts());
  let since = Date.now();
  while (Date.now() - since < quietMs) {
    if (Date.now() > deadline) throw new Error('Postgres writes did not settle within 30 s');
    await new Promise((r) => setTimeout(r, 100));
    const now = JSON.stringify(stack.neonCounts());
    if (now !== last) {
      last = now;
      since = Date.now();
    }
  }
  return stack.neonCounts();
}

/** CPU milliseconds used so far by the Worker's workerd, by Postgres, and by this process. */
interface CpuSample {
  at: number;
  workerd: number;
  /** The kernel's part of `workerd` (sockets, the SQLite file): runtime work that is not the Worker's code. */
  workerdSystem: number;
  postgres: number;
  bench: number;
}

async function main(): Promise<void> {
  const log = new WorkerLog();
  const stack = await startStack({
    port: 0,
    quiet: true,
    dataDir: await makeTempDataDir('agent-chat-bench-capacity-'),
    vars: {
      STORAGE_METER: String(METER),
      LOG_LEVEL: 'info',
      RATE_LIMIT_USER_PER_MINUTE: '1000000',
      RATE_LIMIT_USER_BURST: '1000000',
      RATE_LIMIT_CONVERSATION_PER_MINUTE: '1000000',
      RATE_LIMIT_CONVERSATION_BURST: '1000000',
      RATE_LIMIT_WRITES_PER_MINUTE: '1000000',
      RATE_LIMIT_WRITES_BURST: '1000000',
    },
    onWorkerLine: (line) => log.take(line),
  });
  const sockets: Socket[] = [];
  try {
    const workerd = await listeningPid(Number(new URL(stack.directUrl()).port));
    const postgres = await listeningPid(Number(new URL(stack.vars.DATABASE_URL ?? '').port));
    const sample = async (): Promise<CpuSample> => {
      const own = process.cpuUsage();
      const w = await treeCpu(workerd);
      return {
        at: performance.now(),
        workerd: w.user + w.system,
        workerdSystem: w.system,
        postgres: await treeCpuMs(postgres),
        bench: (own.user + own.system) / 1000,
      };
    };
    const loads = [`start ${await loadAverage()}`];
    const token = await stack.devToken('bench-capacity');
    const auth = { authorization: `Bearer ${token}` };
    const newConversation = async () => {
      const created = await fetch(`${stack.url}${API_BASE}/conversations`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: '{}',
        signal: AbortSignal.timeout(30_000),
      });
      if (created.status !== 201) throw new Error(`create answered ${created.status}: ${await created.text()}`);
      const conversationId = ((await created.json()) as { id: string }).id;
      const socket = await Socket.open(stack, conversationId, token);
      sockets.push(socket);
      return { conversationId, ws: socket };
    };
    let sent = 0;
    const sendOne = async (ws: Socket) => {
      const key = `capacity-${sent++}`;
      ws.send({ type: 'send', content: `!dev words=${WORDS} delay_ms=${DELAY_MS}`, client_message_id: key });
      const userId = () => {
        const f = ws.frames.find((x) => x.type === 'message' && x.message.client_message_id === key);
        return f?.type === 'message' ? f.message.id : undefined;
      };
      const replyId = await ws.replyEnded(userId, REPLY_TIMEOUT_MS);
      return log.find((l) => l.msg === 'reply' && l.message_id === replyId, 30_000, `reply line for ${replyId}`);
    };

    // One at a time over one socket.
    const { conversationId, ws } = await newConversation();
    const warm = await sendOne(ws);
    const before = { pg: await settled(stack), wsIn: ws.bytesIn, wsOut: ws.bytesOut, cpu: await sample() };
    const lines: Line[] = [];
    for (let n = 1; n <= REPLIES; n++) {
      lines.push(await sendOne(ws));
      if (n % 50 === 0) console.error(`${n} of ${REPLIES} replies one at a time`);
    }
    const after = { pg: await settled(stack), wsIn: ws.bytesIn, wsOut: ws.bytesOut, cpu: await sample() };
    const last = lines.at(-1) ?? warm;
    loads.push(`after one at a time ${await loadAverage()}`);

    // CONCURRENCY conversations at once, REPLIES replies in all.
    const rooms = await Promise.all(Array.from({ length: CONCURRENCY }, () => newConversation()));
    const warmed = await Promise.all(rooms.map((r) => sendOne(r.ws)));
    await settled(stack);
    const atOnceFrom = { requests: latestRequests(log), cpu: await sample() };
    const perRoom = Math.ceil(REPLIES / CONCURRENCY);
    const ended = await Promise.all(
      rooms.map(async (r) => {
        let line: Line | undefined;
        for (let n = 0; n < perRoom; n++) line = await sendOne(r.ws);
        return line as Line;
      }),
    );
    await settled(stack);
    const atOnceTo = { requests: latestRequests(log), cpu: await sample() };
    const atOnceReplies = perRoom * CONCURRENCY;
    loads.push(`after ${CONCURRENCY} at once ${await loadAverage()}`);

    // Reads: a history page of the first conversation (its 50 latest messages), and the conversation list.
    const read = async (path: string) => {
      const from = await sample();
      for (let n = 0; n < READS; n++) {
        const res = await fetch(`${stack.url}${API_BASE}${path}`, {
          headers: auth,
          signal: AbortSignal.timeout(30_000),
        });
        if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}: ${await res.text()}`);
        await res.arrayBuffer();
      }
      return { from, to: await sample() };
    };
    const history = await read(`/conversations/${conversationId}/messages`);
    const list = await read('/conversations');

    // The idle rate, every socket still open.
    const idleFrom = await sample();
    await new Promise((r) => setTimeout(r, IDLE_MS));
    const idleTo = await sample();
    loads.push(`end ${await loadAverage()}`);
    const idlePerMs = {
      workerd: (idleTo.workerd - idleFrom.workerd) / (idleTo.at - idleFrom.at),
      workerdSystem: (idleTo.workerdSystem - idleFrom.workerdSystem) / (idleTo.at - idleFrom.at),
      postgres: (idleTo.postgres - idleFrom.postgres) / (idleTo.at - idleFrom.at),
      bench: (idleTo.bench - idleFrom.bench) / (idleTo.at - idleFrom.at),
    };
    /** CPU ms per operation of `what` between two samples, less its idle use over that time. */
    const cpu = (a: CpuSample, b: CpuSample, what: keyof typeof idlePerMs, count: number) =>
      (b[what] - a[what] - idlePerMs[what] * (b.at - a.at)) / count;

    const per = (a: number, b: number) => (b - a) / REPLIES;
    const num = (l: Line, k: string) => Number(l[k] ?? Number.NaN);
    const avg = (k: string) => lines.reduce((s, l) => s + num(l, k), 0) / lines.length;
    const fmt = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(x < 10 ? 2 : 1));
    const atOnceRows = (k: string) =>
      rooms.reduce((s, _, i) => s + num(ended[i] as Line, k) - num(warmed[i] as Line, k), 0) / atOnceReplies;
    const rows: Array<[string, number]> = [
      ['reply duration ms (avg)', avg('duration_ms')],
      ['chunks in the reply stream', avg('chunks')],
      ['bytes of the reply stream (chunk JSON)', avg('bytes')],
      // The warm-up's tail (its outbox settle, its chunk rows dropped) is in the window, the last reply's is not:
      // the same work, so the difference over N replies is the steady cost of one.
      ['DO storage rows read', per(num(warm, 'room_rows_read'), num(last, 'room_rows_read'))],
      ['DO storage rows written', per(num(warm, 'room_rows_written'), num(last, 'room_rows_written'))],
      ['DO requests (all objects, all methods)', per(total(requestsOf(warm)), total(requestsOf(last)))],
      ['Postgres HTTP requests', per(before.pg.requests, after.pg.requests)],
      ['Postgres statements', per(before.pg.statements, after.pg.statements)],
      ['Postgres bytes sent (request bodies)', per(before.pg.bytesIn, after.pg.bytesIn)],
      ['Postgres bytes received (responses)', per(before.pg.bytesOut, after.pg.bytesOut)],
      ['WebSocket bytes to the client', per(before.wsIn, after.wsIn)],
      ['WebSocket bytes from the client', per(before.wsOut, after.wsOut)],
      ['Worker CPU ms (workerd, less idle)', cpu(before.cpu, after.cpu, 'workerd', REPLIES)],
      ['  of which system (kernel) time', cpu(before.cpu, after.cpu, 'workerdSystem', REPLIES)],
      ['Postgres CPU ms (less idle)', cpu(before.cpu, after.cpu, 'postgres', REPLIES)],
      ['bench process CPU ms (client, agent, Neon HTTP)', cpu(before.cpu, after.cpu, 'bench', REPLIES)],
    ];
    const mode = METER ? 'STORAGE_METER on' : 'STORAGE_METER off';
    console.log(
      `bench/capacity: ${REPLIES} replies of ${WORDS} words, ${DELAY_MS} ms apart, over one WebSocket (${mode})`,
    );
    for (const [what, value] of rows) console.log(`  ${what.padEnd(48)} ${fmt(value)}`);
    for (const [method, n] of Object.entries(diff(requestsOf(warm), requestsOf(last)))) {
      console.log(`    DO requests: ${method.padEnd(38)} ${fmt(n / REPLIES)}`);
    }

    console.log(`${atOnceReplies} replies over ${CONCURRENCY} conversations at once, per reply:`);
    const atOnce: Array<[string, number]> = [
      ['Worker CPU ms (workerd, less idle)', cpu(atOnceFrom.cpu, atOnceTo.cpu, 'workerd', atOnceReplies)],
      ['  of which system (kernel) time', cpu(atOnceFrom.cpu, atOnceTo.cpu, 'workerdSystem', atOnceReplies)],
      ['Postgres CPU ms (less idle)', cpu(atOnceFrom.cpu, atOnceTo.cpu, 'postgres', atOnceReplies)],
      ['bench process CPU ms', cpu(atOnceFrom.cpu, atOnceTo.cpu, 'bench', atOnceReplies)],
      ['DO storage rows read', atOnceRows('room_rows_read')],
      ['DO storage rows written', atOnceRows('room_rows_written')],
      [
        'DO requests (all objects, all methods)',
        (total(atOnceTo.requests) - total(atOnceFrom.requests)) / atOnceReplies,
      ],
    ];
    for (const [what, value] of atOnce) console.log(`  ${what.padEnd(48)} ${fmt(value)}`);

    console.log(`${READS} reads of each, one at a time, per request:`);
    const reads: Array<[string, number]> = [
      ['Worker CPU ms, history page (50 messages)', cpu(history.from, history.to, 'workerd', READS)],
      ['Worker CPU ms, conversation list (20)', cpu(list.from, list.to, 'workerd', READS)],
      ['Postgres CPU ms, conversation list', cpu(list.from, list.to, 'postgres', READS)],
    ];
    for (const [what, value] of reads) console.log(`  ${what.padEnd(48)} ${fmt(value)}`);
    console.log(
      `idle, ${IDLE_MS} ms with ${sockets.length} sockets open, CPU ms/s: workerd ${fmt(idlePerMs.workerd * 1000)}, ` +
        `Postgres ${fmt(idlePerMs.postgres * 1000)}, bench ${fmt(idlePerMs.bench * 1000)}`,
    );
    console.log(`load average (1, 5, 15 min): ${loads.join('; ')}`);
  } finally {
    for (const s of sockets) s.close();
    await stack.stop();
  }
}

/** The isolate's Durable Object requests as a reply line reports them (STORAGE_METER), by `Class.method`. */
function requestsOf(line: Line | undefined): Record<string, number> {
  return (line?.do_requests as Record<string, number> | undefined) ?? {};
}

/** The latest counts the Worker has logged. */
function latestRequests(log: WorkerLog): Record<string, number> {
  return requestsOf(log.lines.findLast((l) => l.msg === 'reply'));
}

const total = (counts: Record<string, number>) => Object.values(counts).reduce((s, n) => s + n, 0);

function diff(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, n] of Object.entries(b)) if (n !== (a[k] ?? 0)) out[k] = n - (a[k] ?? 0);
  return out;
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
