/**
 * The promises every experiment is checked against (issue 15), after the outbox has settled, on both the API (the
 * room) and the Postgres rows:
 *   - every admitted user message is stored exactly once;
 *   - seq is 1..n with no gap per conversation, and sends made one after another keep their order;
 *   - every assistant reply ends in exactly one terminal status, with the text a client assembled from its stream;
 *   - the Postgres rows equal the room's.
 */
import type { Message } from '../worker/wire';
import { type Lab, sleep, type User } from './lab';

export interface Send {
  /** How the stored message is found: by client_message_id, or by id for a send that had none. */
  clientMessageId?: string;
  messageId?: string;
  content: string;
}

/** What an experiment did to one conversation, for the checks. */
export class Transcript {
  /** User messages the API said it took (200, a stream, a `message` frame), in the order they were sent. */
  readonly admitted: Send[] = [];
  /** Sends whose fate the client could not know (cut mid-request): stored at most once. */
  readonly unknown: Send[] = [];
  /** Reply id → the text a client assembled from its whole stream. */
  readonly streamed = new Map<string, string>();
  /** Reply id → the status a client saw it end with. */
  readonly ended = new Map<string, Message['status']>();

  constructor(
    readonly user: User,
    readonly conversationId: string,
    /** Sends went one after another (each after the previous reply ended), so seq order must be send order. */
    readonly sequential = true,
  ) {}
}

export interface Verdict {
  conversations: number;
  messages: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
  failures: string[];
  /** How long the outbox took to bring Postgres level with the rooms. */
  settleMs: number;
}

interface Row {
  id: string;
  seq: number;
  role: string;
  status: string;
  content: string;
  client_message_id: string | null;
  reply_to: string | null;
}

const TERMINAL = new Set(['complete', 'stopped', 'error']);

export async function checkInvariants(lab: Lab, transcripts: Transcript[], settleTimeoutMs = 60_000): Promise<Verdict> {
  const verdict: Verdict = {
    conversations: transcripts.length,
    messages: 0,
    lost: 0,
    duplicated: 0,
    outOfOrder: 0,
    failures: [],
    settleMs: 0,
  };
  const started = Date.now();
  const settled = await settle(lab, transcripts, started + settleTimeoutMs);
  verdict.settleMs = Date.now() - started;
  for (const t of transcripts) {
    const { api, rows, state } = settled.get(t.conversationId) ?? { api: [], rows: [], state: undefined };
    verdict.messages += api.length;
    const fail = (what: string) => verdict.failures.push(`${t.conversationId.slice(0, 8)}: ${what}`);
    checkOne(t, api, 'api', verdict, fail);
    checkOne(t, rows, 'postgres', verdict, fail);
    const mismatch = firstDifference(api, rows);
    if (mismatch) fail(`Postgres differs from the room after ${settleTimeoutMs} ms: ${mismatch}`);
    if (state && state.message_count !== api.length) {
      fail(`conversation_states.message_count ${state.message_count}, the room has ${api.length} messages`);
    }
  }
  return verdict;
}

async function settle(
  lab: Lab,
  transcripts: Transcript[],
  deadline: number,
): Promise<Map<string, { api: Row[]; rows: Row[]; state: { message_count: number } | undefined }>> {
  const out = new Map<string, { api: Row[]; rows: Row[]; state: { message_count: number } | undefined }>();
  let pending = [...transcripts];
  for (;;) {
    const next: Transcript[] = [];
    for (const t of pending) {
      const api = (await t.user.history(t.conversationId)).map(rowOf);
      const rows = await lab
        .pg<Row>(
          'select id, seq, role, status, content, client_message_id, reply_to from conversation_messages where conversation_id = $1 order by seq',
          [t.conversationId],
        )
        .catch(() => [] as Row[]);
      const [state] = await lab
        .pg<{ message_count: number }>('select message_count from conversation_states where id = $1', [
          t.conversationId,
        ])
        .catch(() => [] as Array<{ message_count: number }>);
      out.set(t.conversationId, { api, rows, state });
      const level =
        !api.some((m) => m.status === 'streaming') &&
        firstDifference(api, rows) === undefined &&
        state?.message_count === api.length;
      if (!level) next.push(t);
    }
    pending = next;
    if (pending.length === 0 || Date.now() > deadline) return out;
    await sleep(250);
  }
}

function checkOne(t: Transcript, rows: Row[], where: string, verdict: Verdict, fail: (what: string) => void): void {
  rows.forEach((m, i) => {
    if (m.seq !== i + 1) {
      verdict.outOfOrder++;
      fail(`${where}: seq ${m.seq} at position ${i + 1}`);
    }
  });
  const byKey = new Map<string, Row[]>();
  const users = rows.filter((m) => m.role === 'user');
  for (const m of users) {
    for (const key of [`id:${m.id}`, m.client_message_id === null ? '' : `cm:${m.client_message_id}`]) {
      if (key) byKey.set(key, [...(byKey.get(key) ?? []), m]);
    }
  }
  const keyOf = (s: Send) => (s.clientMessageId === undefined ? `id:${s.messageId}` : `cm:${s.clientMessageId}`);
  if (users.length > t.admitted.length + t.unknown.length) {
    fail(`${where}: ${users.length} user messages stored, ${t.admitted.length} admitted (a refused send was stored)`);
  }
  let lastSeq = 0;
  for (const send of t.admitted) {
    const found = byKey.get(keyOf(send)) ?? [];
    if (found.length === 0) {
      verdict.lost++;
      fail(`${where}: admitted message ${keyOf(send)} is missing`);
      continue;
    }
    if (found.length > 1) {
      verdict.duplicated += found.length - 1;
      fail(`${where}: message ${keyOf(send)} stored ${found.length} times`);
    }
    const first = found[0] as Row;
    if (first.content !== send.content) fail(`${where}: message ${keyOf(send)} stored with other content`);
    if (t.sequential && first.seq < lastSeq) {
      verdict.outOfOrder++;
      fail(`${where}: message ${keyOf(send)} (seq ${first.seq}) stored before an earlier send`);
    }
    lastSeq = first.seq;
  }
  for (const send of t.unknown) {
    const found = byKey.get(keyOf(send)) ?? [];
    if (found.length > 1) {
      verdict.duplicated += found.length - 1;
      fail(`${where}: message ${keyOf(send)} stored ${found.length} times`);
    }
  }
  const repliesTo = new Map<string, number>();
  for (const m of rows) {
    if (m.role !== 'assistant') continue;
    if (!TERMINAL.has(m.status)) fail(`${where}: reply ${m.id} ended as ${m.status}`);
    if (m.reply_to) repliesTo.set(m.reply_to, (repliesTo.get(m.reply_to) ?? 0) + 1);
    const streamed = t.streamed.get(m.id);
    if (streamed !== undefined && streamed !== m.content) {
      fail(
        `${where}: reply ${m.id} stored ${JSON.stringify(m.content.slice(-60))}, streamed ${JSON.stringify(streamed.slice(-60))}`,
      );
    }
    const ended = t.ended.get(m.id);
    if (ended !== undefined && ended !== m.status)
      fail(`${where}: reply ${m.id} stored ${m.status}, a client saw ${ended}`);
  }
  for (const m of rows) {
    if (m.role !== 'user') continue;
    const replies = repliesTo.get(m.id) ?? 0;
    if (replies !== 1) fail(`${where}: user message seq ${m.seq} has ${replies} replies`);
  }
}

function rowOf(m: Message): Row {
  return {
    id: m.id,
    seq: m.seq,
    role: m.role,
    status: m.status,
    content: m.content,
    client_message_id: m.client_message_id,
    reply_to: m.reply_to,
  };
}

function firstDifference(api: Row[], rows: Row[]): string | undefined {
  if (api.length !== rows.length) return `${rows.length} rows, the room has ${api.length} messages`;
  for (let i = 0; i < api.length; i++) {
    const a = api[i] as Row;
    const b = rows[i] as Row;
    for (const key of Object.keys(a) as Array<keyof Row>) {
      if (a[key] !== b[key])
        return `seq ${a.seq} ${key}: room ${JSON.stringify(a[key])}, Postgres ${JSON.stringify(b[key])}`;
    }
  }
  return undefined;
}

/** Chunk indexes that broke 0..n-1: gaps (one skipped), duplicates (one seen again), and what was seen. */
export interface ChunkOrder {
  gaps: number;
  duplicates: number;
  failures: string[];
}

/** Indexes must run 0..n-1 exactly once each; what breaks that is tallied in `order`. */
export function checkSequence(indexes: number[], order: ChunkOrder, what: string): void {
  const seen = new Set<number>();
  indexes.forEach((index, i) => {
    if (seen.has(index)) {
      order.duplicates++;
      order.failures.push(`${what}: chunk ${index} twice`);
    } else if (index !== seen.size) {
      order.gaps++;
      order.failures.push(`${what}: chunk ${index} at position ${i}, expected ${seen.size}`);
    }
    seen.add(index);
  });
}

/** Adds one verdict into a running total. */
export function addVerdict(total: Verdict, v: Verdict): void {
  total.conversations += v.conversations;
  total.messages += v.messages;
  total.lost += v.lost;
  total.duplicated += v.duplicated;
  total.outOfOrder += v.outOfOrder;
  total.failures.push(...v.failures);
  total.settleMs = Math.max(total.settleMs, v.settleMs);
}

export function emptyVerdict(): Verdict {
  return { conversations: 0, messages: 0, lost: 0, duplicated: 0, outOfOrder: 0, failures: [], settleMs: 0 };
}
