/**
 * What one reply costs, measured: N replies over a WebSocket through a local stack (dev/stack.ts, the dev agent,
 * embedded Postgres behind the local Neon HTTP endpoint), after one warm-up reply that is not counted. Per reply it
 * prints the room's storage rows read and written (STORAGE_METER: each SQL statement's own rowsRead/rowsWritten,
 * and a row per key for the key-value calls, as billed), the Postgres HTTP requests and statements the outbox sent
 * (counted by dev/neon-http.ts) and their bytes, the bytes the client received and sent over the WebSocket, and
 * the chunks and bytes of the reply's stream (its `reply` log line). It asserts nothing.
 *
 *   npx tsx bench/capacity.ts [--replies 20] [--words 100] [--delay-ms 25]
 *
 * A reply of W words streams one text-delta per word, delay-ms apart: 100 words at 25 ms is a 2.5 s reply.
 * Every wait has a deadline and the stack is stopped whatever happens: a run either prints or fails saying why.
 */
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { makeTempDataDir, type Stack, startStack } from '../dev/stack';
import { API_BASE, type ServerFrame } from '../worker/wire';

const { values: args } = parseArgs({
  options: {
    replies: { type: 'string', default: '20' },
    words: { type: 'string', default: '100' },
    'delay-ms': { type: 'string', default: '25' },
  },
});
const REPLIES = Number(args.replies);
const WORDS = Number(args.words);
const DELAY_MS = Number(args['delay-ms']);
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
  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
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
      if (Date.now() > deadline) throw new Error(`the reply did not end within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  close(): void {
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

async function main(): Promise<void> {
  const log = new WorkerLog();
  const stack = await startStack({
    port: 0,
    quiet: true,
    dataDir: await makeTempDataDir('agent-chat-bench-capacity-'),
    vars: {
      STORAGE_METER: 'true',
      LOG_LEVEL: 'info',
      RATE_LIMIT_USER_PER_MINUTE: '1000000',
      RATE_LIMIT_USER_BURST: '1000000',
      RATE_LIMIT_CONVERSATION_PER_MINUTE: '1000000',
      RATE_LIMIT_CONVERSATION_BURST: '1000000',
    },
    onWorkerLine: (line) => log.take(line),
  });
  let socket: Socket | undefined;
  try {
    const token = await stack.devToken('bench-capacity');
    const created = await fetch(`${stack.url}${API_BASE}/conversations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{}',
      signal: AbortSignal.timeout(30_000),
    });
    if (created.status !== 201) throw new Error(`create answered ${created.status}: ${await created.text()}`);
    const conversationId = ((await created.json()) as { id: string }).id;
    socket = await Socket.open(stack, conversationId, token);
    const ws = socket;

    const sendOne = async (n: number) => {
      const key = `capacity-${n}`;
      ws.send({ type: 'send', content: `!dev words=${WORDS} delay_ms=${DELAY_MS}`, client_message_id: key });
      const userId = () => {
        const f = ws.frames.find((x) => x.type === 'message' && x.message.client_message_id === key);
        return f?.type === 'message' ? f.message.id : undefined;
      };
      const replyId = await ws.replyEnded(userId, REPLY_TIMEOUT_MS);
      return log.find((l) => l.msg === 'reply' && l.message_id === replyId, 30_000, `reply line for ${replyId}`);
    };

    const warm = await sendOne(0);
    const before = { pg: await settled(stack), wsIn: ws.bytesIn, wsOut: ws.bytesOut };
    const lines: Line[] = [];
    for (let n = 1; n <= REPLIES; n++) lines.push(await sendOne(n));
    const after = { pg: await settled(stack), wsIn: ws.bytesIn, wsOut: ws.bytesOut };
    const last = lines.at(-1) ?? warm;

    const per = (a: number, b: number) => (b - a) / REPLIES;
    const num = (l: Line, k: string) => Number(l[k] ?? Number.NaN);
    const avg = (k: string) => lines.reduce((s, l) => s + num(l, k), 0) / lines.length;
    const fmt = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(1));
    const rows: Array<[string, number]> = [
      ['reply duration ms (avg)', avg('duration_ms')],
      ['chunks in the reply stream', avg('chunks')],
      ['bytes of the reply stream (chunk JSON)', avg('bytes')],
      // The warm-up's tail (its outbox settle, its chunk rows dropped) is in the window, the last reply's is not:
      // the same work, so the difference over N replies is the steady cost of one.
      ['DO storage rows read', per(num(warm, 'room_rows_read'), num(last, 'room_rows_read'))],
      ['DO storage rows written', per(num(warm, 'room_rows_written'), num(last, 'room_rows_written'))],
      ['Postgres HTTP requests', per(before.pg.requests, after.pg.requests)],
      ['Postgres statements', per(before.pg.statements, after.pg.statements)],
      ['Postgres bytes sent (request bodies)', per(before.pg.bytesIn, after.pg.bytesIn)],
      ['Postgres bytes received (responses)', per(before.pg.bytesOut, after.pg.bytesOut)],
      ['WebSocket bytes to the client', per(before.wsIn, after.wsIn)],
      ['WebSocket bytes from the client', per(before.wsOut, after.wsOut)],
    ];
    console.log(`bench/capacity: ${REPLIES} replies of ${WORDS} words, ${DELAY_MS} ms apart, over one WebSocket`);
    for (const [what, value] of rows) console.log(`  ${what.padEnd(42)} ${fmt(value)}`);
  } finally {
    socket?.close();
    await stack.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
