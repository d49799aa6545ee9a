/**
 * Experiment 8: load on one local workerd. N conversations stream at once (a WebSocket each, 20 chunks/s) while
 * users list their conversations and page history; the agent is bench/timing-agent.ts (its own process), which
 * notes when it wrote each chunk, so chunk latency is agent write → client receipt. Then a ramp: the largest
 * number of concurrent streaming conversations whose p99 chunk latency stays within 100 ms.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import WebSocket from 'ws';
import { now, startTimingAgent, type TimingAgent } from '../../bench/timing-agent';
import { API_BASE, type Message, type ServerFrame } from '../../worker/wire';
import { type Experiment, outcome, scaled, withLab } from '../experiment';
import {
  addVerdict,
  type ChunkOrder,
  checkInvariants,
  checkSequence,
  emptyVerdict,
  Transcript,
  type Verdict,
} from '../invariants';
import { descendants, type Lab, type User } from '../lab';
import { percentile } from '../traffic';

const P99_TARGET_MS = 100;
/**
 * A history read that takes longer is an error, not a wait: on a starved machine (load 20 on 2 cores) reads waited
 * minutes, and one that failed after undici's 300 s aborted the whole round with none of its figures.
 */
const READ_TIMEOUT_MS = 30_000;

interface Round {
  conversations: number;
  chunkMs: number[];
  firstChunkMs: number[];
  errors: string[];
  historyReads: number;
  readMs: number[];
  /** The invariants (faults/invariants.ts) over the round's conversations, and the chunk indexes each client got. */
  verdict: Verdict;
  /** How long the invariant check took, outbox wait included. */
  checkMs: number;
}

/**
 * What is measured is N replies streaming at once, not N connections opened in the same instant: 1,000 at once
 * through wrangler's proxy on a starved machine failed theirs after undici's 10 s connect timeout (and some got
 * 503 from the proxy), ending the round before it streamed. So they are made CONNECT_BATCH at a time.
 */
const CONNECT_BATCH = 50;

async function inBatches<T, R>(items: T[], work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += CONNECT_BATCH) {
    out.push(...(await Promise.all(items.slice(i, i + CONNECT_BATCH).map(work))));
  }
  return out;
}

/**
 * The invariants are checked this many conversations at a time once a round's replies have ended: each takes a
 * history read and two Postgres queries, cheap once the load has stopped.
 */
const CHECK_CONCURRENCY = 20;
/** How long the check waits for the outbox to bring Postgres level with the rooms after a round. */
const SETTLE_TIMEOUT_MS = 120_000;

/**
 * One WebSocket that timestamps the chunks of the reply it asked for, and keeps what the invariants need: the user
 * message it sent, whether the room took it, the reply's text deltas (appended as they come: the client is on the
 * measured path) and whether the chunk indexes ran 0..n-1 with no gap or duplicate.
 */
async function openTimed(lab: Lab, user: User, conversationId: string) {
  const ws = new WebSocket(`${lab.url.replace('http', 'ws')}${API_BASE}/conversations/${conversationId}/ws`, {
    headers: { authorization: `Bearer ${user.token}` },
    perMessageDeflate: false,
  });
  const arrivals = new Map<number, number>();
  let replyId: string | undefined;
  let firstChunkAt: number | undefined;
  let sentAt = 0;
  let sent: { clientMessageId: string; content: string } | undefined;
  let admitted = false;
  let endStatus: Message['status'] | undefined;
  const deltas: string[] = [];
  const indexes: number[] = [];
  let resolveEnd: (status: string) => void = () => {};
  const ended = new Promise<string>((r) => {
    resolveEnd = r;
  });
  let ready: () => void = () => {};
  let refused: (err: Error) => void = () => {};
  // A socket refused or dropped before `ready` must fail the round, not leave it waiting for ever.
  const opened = new Promise<void>((resolve, reject) => {
    ready = resolve;
    refused = reject;
  });
  ws.on('unexpected-response', (_req, res) => refused(new Error(`upgrade refused: ${res.statusCode}`)));
  ws.on('message', (data) => {
    const at = now();
    const frame = JSON.parse(String(data)) as ServerFrame;
    if (frame.type === 'ready') ready();
    if (frame.type === 'message' && frame.message.role === 'user') {
      if (frame.message.client_message_id === sent?.clientMessageId) admitted = true;
    } else if (frame.type === 'message' && frame.message.role === 'assistant') {
      replyId ??= frame.message.id;
      if (frame.message.id === replyId && frame.message.status !== 'streaming') {
        endStatus ??= frame.message.status;
        const why = (frame.message.metadata.error as { code?: string } | undefined)?.code;
        resolveEnd(why ? `${frame.message.status} ${why}` : frame.message.status);
      }
    }
    if (frame.type === 'chunk' && frame.message_id === replyId) {
      firstChunkAt ??= at;
      indexes.push(frame.index);
      const delta = frame.chunk.delta;
      if (frame.chunk.type === 'text-delta' && typeof delta === 'string') {
        deltas.push(delta);
        const k = /^w(\d+) $/.exec(delta)?.[1];
        if (k !== undefined) arrivals.set(Number(k), at);
      }
    }
    if (frame.type === 'error') resolveEnd(`error frame ${frame.code}`);
  });
  ws.on('close', (code) => {
    refused(new Error(`closed ${code} before ready`));
    resolveEnd(`closed ${code}`);
  });
  ws.on('error', (err) => {
    refused(err);
    resolveEnd(`socket error ${err.message}`);
  });
  await opened;
  return {
    send(content: string) {
      sent = { clientMessageId: crypto.randomUUID(), content };
      sentAt = now();
      ws.send(JSON.stringify({ type: 'send', content, client_message_id: sent.clientMessageId }));
    },
    ended,
    get replyId() {
      return replyId;
    },
    arrivals,
    firstChunkMs: () => (firstChunkAt === undefined ? undefined : firstChunkAt - sentAt),
    close: () => ws.close(1000),
    /** Chunk indexes out of 0..n-1 order: gaps (one skipped) and duplicates (one seen again), with what was seen. */
    chunkOrder(): ChunkOrder {
      const order: ChunkOrder = { gaps: 0, duplicates: 0, failures: [] };
      checkSequence(indexes, order, 'reply');
      return order;
    },
    /**
     * What the conversation must hold: the send (admitted once its `message` frame came back; else it may be stored
     * at most once) and, when the reply's end frame came, the text streamed and the status it ended with.
     */
    transcript(): Transcript {
      const t = new Transcript(user, conversationId);
      if (sent) (admitted ? t.admitted : t.unknown).push(sent);
      if (replyId !== undefined && endStatus !== undefined) {
        t.streamed.set(replyId, deltas.join(''));
        t.ended.set(replyId, endStatus);
      }
      return t;
    },
  };
}

/** checkInvariants over `transcripts`, CHECK_CONCURRENCY conversations at a time. */
async function checkAll(lab: Lab, transcripts: Transcript[]): Promise<Verdict> {
  const total = emptyVerdict();
  const slices = Array.from({ length: CHECK_CONCURRENCY }, (_, i) =>
    transcripts.filter((_, j) => j % CHECK_CONCURRENCY === i),
  ).filter((slice) => slice.length > 0);
  for (const v of await Promise.all(slices.map((slice) => checkInvariants(lab, slice, SETTLE_TIMEOUT_MS)))) {
    addVerdict(total, v);
  }
  return total;
}

async function round(
  lab: Lab,
  agent: TimingAgent,
  users: User[],
  n: number,
  chunks: number,
  readers: number,
  log: (line: string) => void,
): Promise<Round> {
  const result: Round = {
    conversations: n,
    chunkMs: [],
    firstChunkMs: [],
    errors: [],
    historyReads: 0,
    readMs: [],
    verdict: emptyVerdict(),
    checkMs: 0,
  };
  const started = Date.now();
  const since = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
  const conversations = await inBatches(users.slice(0, n), async (u) => ({
    user: u,
    id: await u.conversation('load'),
  }));
  log(`${n} conversations made (${since()})`);
  const opened = await inBatches(conversations, (c) =>
    openTimed(lab, c.user, c.id).then(
      (value) => ({ status: 'fulfilled' as const, value }),
      (reason: unknown) => ({ status: 'rejected' as const, reason }),
    ),
  );
  const sockets = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
  for (const o of opened) if (o.status === 'rejected') result.errors.push(`socket: ${String(o.reason)}`);
  log(`${sockets.length} sockets ready (${since()})`);
  let streaming = true;
  const reading = Promise.all(
    conversations.slice(0, readers).map(async (c) => {
      const paths = [
        '/conversations?limit=20',
        `/conversations/${c.id}/messages?limit=50`,
        `/conversations/${c.id}/messages?limit=10&before_seq=2`,
      ];
      while (streaming) {
        for (const path of paths) {
          const started = performance.now();
          try {
            const r = await c.user.call('GET', path, undefined, {}, READ_TIMEOUT_MS);
            if (r.status !== 200) result.errors.push(`history read ${r.status}`);
            result.readMs.push(performance.now() - started);
            result.historyReads++;
          } catch (err) {
            result.errors.push(`history read: ${err instanceof Error ? err.message : String(err)}`);
          }
        }
      }
    }),
  );
  for (const s of sockets) s.send(`!dev words=${chunks} delay_ms=50\nload`);
  let ended = 0;
  const progress = setInterval(() => log(`${ended} of ${sockets.length} replies ended (${since()})`), 15_000);
  const statuses = await Promise.all(sockets.map((s) => s.ended.finally(() => ended++)));
  clearInterval(progress);
  log(`${ended} replies ended, ${result.historyReads} history reads (${since()})`);
  streaming = false;
  await reading;
  for (const [i, status] of statuses.entries()) if (status !== 'complete') result.errors.push(`reply ${i}: ${status}`);
  for (const s of sockets) {
    s.close();
    const first = s.firstChunkMs();
    if (first !== undefined) result.firstChunkMs.push(first);
    const run = s.replyId ? await agent.run(s.replyId) : undefined;
    if (!run) continue;
    for (const [k, at] of s.arrivals) {
      const emitted = run.emits[k];
      if (emitted !== undefined) result.chunkMs.push(at - emitted);
    }
  }
  const checkStarted = Date.now();
  const transcripts = opened.map((o, i) => {
    if (o.status === 'fulfilled') return o.value.transcript();
    const c = conversations[i] as (typeof conversations)[number];
    return new Transcript(c.user, c.id);
  });
  result.verdict = await checkAll(lab, transcripts);
  for (const [i, s] of sockets.entries()) {
    const order = s.chunkOrder();
    result.verdict.outOfOrder += order.gaps;
    result.verdict.duplicated += order.duplicates;
    if (order.failures.length)
      result.verdict.failures.push(`reply ${i} chunks: ${order.failures.slice(0, 5).join(', ')}`);
  }
  result.checkMs = Date.now() - checkStarted;
  log(
    `invariants over ${n} conversations in ${(result.checkMs / 1000).toFixed(1)} s (outbox level after ${(result.verdict.settleMs / 1000).toFixed(1)} s): ${result.verdict.failures.length} failures`,
  );
  return result;
}

/**
 * One workerd's resident memory in MiB. `anon` is the part that is the process's own (heap: V8 and workerd's);
 * `file` is file pages mapped in (SQLite storage among them), which the kernel can take back.
 */
export interface WorkerdProcessMemory {
  rss: number;
  anon: number;
  file: number;
}

/**
 * Resident memory of the lab's workerd processes. wrangler dev runs two: the Worker's, and the one of its proxy (the
 * address clients are given, `stack.url`), which relays every request and WebSocket to it.
 */
export interface WorkerdMemory {
  worker: WorkerdProcessMemory;
  proxy: WorkerdProcessMemory;
}

export function workerdMemory(lab: Lab): WorkerdMemory {
  return workerdMemoryAt(Number(new URL(lab.stack.directUrl()).port));
}

/** The workerd that listens on `workerPort` counts as the Worker's, every other workerd as the proxy's. */
export function workerdMemoryAt(workerPort: number): WorkerdMemory {
  const out: WorkerdMemory = { worker: { rss: 0, anon: 0, file: 0 }, proxy: { rss: 0, anon: 0, file: 0 } };
  const listening = listeningInodes(workerPort);
  for (const pid of lookup('workerd')) {
    const status = readStatus(pid);
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    const into = holdsSocket(pid, listening) ? out.worker : out.proxy;
    into.rss += Math.round(kb('VmRSS') / 1024);
    into.anon += Math.round(kb('RssAnon') / 1024);
    into.file += Math.round(kb('RssFile') / 1024);
  }
  return out;
}

export const fmtMemory = (m: WorkerdMemory) =>
  `Worker ${m.worker.rss} MiB (anon ${m.worker.anon}, file ${m.worker.file}), proxy ${m.proxy.rss} MiB`;

/** Inodes of the sockets listening on 127.0.0.1:`port` (/proc/net/tcp, state 0A). */
function listeningInodes(port: number): Set<string> {
  const out = new Set<string>();
  try {
    for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === '0A' && Number.parseInt(f[1]?.split(':')[1] ?? '', 16) === port && f[9]) out.add(f[9]);
    }
  } catch {
    // no /proc: every workerd counts as the proxy's, which the figures then show
  }
  return out;
}

function holdsSocket(pid: number, inodes: Set<string>): boolean {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return inodes.has(/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1] ?? '');
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/** Our own processes called `name` (other stacks on this machine are not ours to measure). */
function lookup(name: string): number[] {
  return descendants(process.pid).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === name;
    } catch {
      return false;
    }
  });
}

function readStatus(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return '';
  }
}

const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

/** Errors counted by kind (`reply 12: error agent_timeout` → `reply: error agent_timeout`), most frequent first. */
function kinds(errors: string[]): string {
  const counts = new Map<string, number>();
  for (const e of errors) {
    const kind = e.replace(/^reply \d+:/, 'reply:');
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  const sorted = [...counts].sort((a, b) => b[1] - a[1]);
  return sorted.length ? ` (${sorted.map(([k, n]) => `${n} × ${k}`).join('; ')})` : '';
}

export const load: Experiment = {
  key: 'load',
  title: '8 load (one local workerd)',
  async run(profile, log, labs) {
    // FAULTS_LOAD_CONVERSATIONS=N runs the main round with N conversations (readers and ramp scaled to it).
    const main = Number(process.env.FAULTS_LOAD_CONVERSATIONS) || scaled(profile, { short: 10, full: 1_000 });
    const chunks = scaled(profile, { short: 40, full: 200 });
    const readers = Math.min(scaled(profile, { short: 2, full: 200 }), Math.ceil(main / 5));
    const ramp = scaled(profile, { short: [5], full: [1, 2, 5, 10, 25, 50, 100, 200, 400, 700, 1_000] }).filter(
      (n) => n <= main,
    );
    const result = outcome(
      `${main} conversations × ${chunks} chunks at 20/s + ${readers} history readers: 0 errors, chunk indexes 0..n-1, invariants`,
    );
    const agent = await startTimingAgent();
    try {
      return await withLab(
        () => labs.own({ AGENTCORE_URL: agent.url }, { inMemory: true }),
        result,
        async (lab) => {
          // Straight to workerd's own socket: not through wrangler's proxy (not part of production; under load it
          // answered POSTs with 503 when one of its fetches failed, dev/direct-port.ts) nor through the stack's
          // pass-through, which would share this process's event loop with the clients.
          lab.url = lab.stack.directUrl();
          lab.retryResets = true;
          log(`clients go to workerd itself (${lab.url})`);
          const users = await Promise.all(Array.from({ length: Math.max(main, ...ramp) }, () => lab.user()));
          // The ramp first, on a stack with nothing else in flight: after the main round, workerd is still working
          // through its backlog (replies that timed out waiting for the agent, the outbox of every conversation),
          // and a ramp measured behind it read 7 s at 2 conversations where it reads 35 ms at 1.
          let held = 0;
          for (const n of ramp) {
            const step = await round(lab, agent, users, n, Math.min(chunks, 100), 0, () => {});
            const p99 = percentile(step.chunkMs, 99);
            addVerdict(result.verdict, step.verdict);
            const checked = `invariants checked in ${(step.checkMs / 1000).toFixed(1)} s (${step.verdict.failures.length} failures)`;
            log(`ramp ${n}: p99 ${fmt(p99)}, ${step.errors.length} errors; ${checked}`);
            result.figures.push(
              `ramp ${n} conversations: chunk p99 ${fmt(p99)}, ${step.errors.length} errors; ${checked}`,
            );
            if (p99 > P99_TARGET_MS || step.errors.length > 0) break;
            held = n;
          }
          result.figures.push(
            `largest level held with chunk p99 ≤ ${P99_TARGET_MS} ms: ${held} concurrent streaming conversations (levels ${ramp.join(', ')})`,
          );
          const memBefore = workerdMemory(lab);
          const r = await round(lab, agent, users, main, chunks, readers, log);
          const memAfter = workerdMemory(lab);
          result.trials = r.conversations;
          addVerdict(result.verdict, r.verdict);
          result.failures.push(...r.errors.slice(0, 20));
          if (r.errors.length > 20) result.failures.push(`… ${r.errors.length - 20} more errors`);
          result.figures.push(
            `${main} conversations: chunk latency p50 ${fmt(percentile(r.chunkMs, 50))}, p99 ${fmt(percentile(r.chunkMs, 99))} (${r.chunkMs.length} chunks); first chunk p50 ${fmt(percentile(r.firstChunkMs, 50))}, p99 ${fmt(percentile(r.firstChunkMs, 99))}; ${r.historyReads} history reads (p50 ${fmt(percentile(r.readMs, 50))}, p99 ${fmt(percentile(r.readMs, 99))}); ${r.errors.length} errors${kinds(r.errors)}`,
            `${main} conversations: invariants (room and Postgres) checked in ${(r.checkMs / 1000).toFixed(1)} s, ${CHECK_CONCURRENCY} at a time, the outbox level ${(r.verdict.settleMs / 1000).toFixed(1)} s after the replies ended: ${r.verdict.messages} messages, ${r.verdict.lost} lost, ${r.verdict.duplicated} duplicated, ${r.verdict.outOfOrder} out of order, ${r.verdict.failures.length} failures`,
            `workerd memory: ${fmtMemory(memBefore)} before; ${fmtMemory(memAfter)} after; clients went to workerd itself; ${lab.resetRetries} requests sent again after their kept-alive connection closed under them`,
          );
          log(result.figures.at(-3) ?? '');
        },
      );
    } finally {
      await agent.close();
    }
  },
};
