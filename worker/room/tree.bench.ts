/**
 * A history page on the active branch of a conversation with 10,000 messages across 50 branches (SPEC §9 figure:
 * p50 ≤ 15 ms, as for a flat one), read from a room's storage by MessageTree, beside the same page of a flat
 * conversation of 10,000 messages. Timed around the call into the Durable Object (the clock inside it stands still
 * while it computes), so each figure includes that round trip. Prints figures; asserts nothing.
 *
 *   npm run bench:tree
 */
import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { it } from 'vitest';
import { MessageTree } from './tree';

const MESSAGES = 10_000;
const BRANCHES = 50;
const PAGE = 50;
const ROUNDS = 200;

type Sql = SqlStorage;

function insert(sql: Sql, seq: number, role: 'user' | 'assistant', parentId: string | null): string {
  const id = crypto.randomUUID();
  sql.exec(
    `INSERT INTO messages (id, seq, role, content, parts, status, reply_to, client_message_id, metadata, created_at,
       parent_id)
     VALUES (?, ?, ?, ?, ?, 'complete', ?, NULL, '{}', '2026-01-01T00:00:00Z', ?)`,
    id,
    seq,
    role,
    `message ${seq}`,
    JSON.stringify([{ type: 'text', text: `message ${seq} `.repeat(20) }]),
    role === 'assistant' ? parentId : null,
    parentId,
  );
  return id;
}

/** Branch k edits a user message of branch k-1 and goes on for its share of the messages. */
function buildTree(sql: Sql, tree: MessageTree): void {
  const perBranch = MESSAGES / BRANCHES;
  let seq = 0;
  let trunk: string[] = [];
  for (let b = 0; b < BRANCHES; b++) {
    const forkAt = b === 0 ? 0 : 2 * Math.floor(trunk.length / 4);
    const path = trunk.slice(0, forkAt);
    let parent = path.at(-1) ?? null;
    const added: { id: string; seq: number }[] = [];
    for (let i = 0; i < perBranch; i++) {
      seq++;
      parent = insert(sql, seq, i % 2 === 0 ? 'user' : 'assistant', parent);
      added.push({ id: parent, seq });
      path.push(parent);
    }
    tree.growFrom(path[forkAt - 1] ?? null, added);
    trunk = path;
  }
}

function buildFlat(sql: Sql, tree: MessageTree): void {
  let parent: string | null = null;
  const added: { id: string; seq: number }[] = [];
  for (let seq = 1; seq <= MESSAGES; seq++) {
    parent = insert(sql, seq, seq % 2 === 1 ? 'user' : 'assistant', parent);
    added.push({ id: parent, seq });
  }
  tree.growFrom(null, added);
}

/** The page as the room would answer it: the path's ids, their rows and their branch numbers. */
function readPage(sql: Sql, tree: MessageTree, beforeSeq: number | undefined): number {
  const { ids } = tree.page({ limit: PAGE, before_seq: beforeSeq });
  const rows = sql.exec(`SELECT * FROM messages WHERE id IN (${ids.map(() => '?').join(',')})`, ...ids).toArray();
  const branches = tree.branches(ids);
  return rows.length + branches.size;
}

async function measure(name: string, build: (sql: Sql, tree: MessageTree) => void): Promise<void> {
  const stub = env.ROOMS.get(env.ROOMS.idFromName(crypto.randomUUID()));
  const { pathLength, seqs } = await runInDurableObject(stub, (_room, state) => {
    const sql = state.storage.sql;
    const tree = new MessageTree(sql);
    state.storage.transactionSync(() => build(sql, tree));
    const seqs = sql
      .exec('SELECT seq FROM path ORDER BY seq')
      .toArray()
      .map((r) => Number(r.seq));
    return { pathLength: seqs.length, seqs };
  });
  const times: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    // The newest page half the time, an older one (before a seq on the path) otherwise.
    const before = i % 2 === 0 ? undefined : seqs[Math.floor(Math.random() * seqs.length)];
    const started = performance.now();
    await runInDurableObject(stub, (_room, state) =>
      readPage(state.storage.sql, new MessageTree(state.storage.sql), before),
    );
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => (times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0).toFixed(2);
  console.log(
    `${name}: ${MESSAGES} messages, active path ${pathLength}, page of ${PAGE}: p50 ${at(0.5)} ms, p95 ${at(0.95)} ms (target p50 ≤ 15 ms)`,
  );
}

it('prints history page figures for a branched and a flat conversation', async () => {
  await measure(`tree of ${BRANCHES} branches`, buildTree);
  await measure('flat', buildFlat);
});
