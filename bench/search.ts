/**
 * Search benchmark (issue: find, keep and share; SPEC §10): GET /search through the real local stack (wrangler dev,
 * workerd, the Neon proxy, embedded Postgres) over ~200,000 stored messages of 1,000 users, 20,000 of them the
 * searcher's. Messages are seeded straight into Postgres in bulk (INSERT … SELECT generate_series): 20 words each,
 * drawn from a 20,000-word vocabulary with a skewed (Zipf-like) frequency, so some words are in most messages and
 * most words are rare. It prints figures and their targets; it asserts nothing.
 *
 *   npm run bench:search [-- queries]     (default 400 timed queries after 30 warm-up ones)
 */
import { nodePool } from '../dev/migrate';
import { makeTempDataDir, startStack } from '../dev/stack';
import { SEARCH_SQL } from '../worker/db/search';
import { API_BASE, SearchResults } from '../worker/wire';

const USERS = 1_000;
const SEARCHER = 'bench-searcher';
const SEARCHER_CONVERSATIONS = 100;
const SEARCHER_MESSAGES_EACH = 200;
const OTHER_CONVERSATIONS = 6_000;
const OTHER_MESSAGES = 180_000;
const VOCABULARY = 20_000;
/** Words are w0 … w19999; w0 is the most frequent. random()^4 puts w0 in ~8% of the words written. */
const WORD = `'w' || floor(${VOCABULARY} * power(random(), 4))::int`;
/** A query word: a content word, not one of the 50 most frequent (which act as stop words would in a language). */
const queryWord = () => `w${50 + Math.floor(Math.random() * Math.random() * 2_000)}`;

const timed = process.argv[2] ? Number(process.argv[2]) : 400;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

const stack = await startStack({
  port: 0,
  quiet: true,
  dataDir: await makeTempDataDir('agent-chat-bench-search-'),
  vars: { LOG_LEVEL: 'warn' },
});
const pool = nodePool(stack.vars.DATABASE_URL ?? '', stack.vars.NEON_WS_PROXY);
try {
  const seeded = Date.now();
  // One statement per table: conversations of the searcher, then of 999 other users.
  await pool.query(
    `insert into conversation_states (id, user_id, title, last_message_at, message_count)
     select gen_random_uuid(), $1, 'Searcher conversation ' || g, now(), $2 from generate_series(1, $3) g`,
    [SEARCHER, SEARCHER_MESSAGES_EACH, SEARCHER_CONVERSATIONS],
  );
  await pool.query(
    `insert into conversation_states (id, user_id, title, last_message_at, message_count)
     select gen_random_uuid(), 'bench-user-' || (g % $1), 'Conversation ' || g, now(), 30 from generate_series(1, $2) g`,
    [USERS - 1, OTHER_CONVERSATIONS],
  );
  const messages = (where: string, perConversation: number) => `
    insert into conversation_messages (id, conversation_id, user_id, seq, role, content, status, created_at)
    select gen_random_uuid(), c.id, c.user_id, s, case when s % 2 = 1 then 'user' else 'assistant' end,
           (select string_agg(${WORD}, ' ') from generate_series(1, 20) w where w > 0 * s),
           'complete', now() - (s || ' minutes')::interval
    from conversation_states c, generate_series(1, ${perConversation}) s
    where ${where}`;
  await pool.query(messages(`c.user_id = '${SEARCHER}'`, SEARCHER_MESSAGES_EACH));
  await pool.query(messages(`c.user_id <> '${SEARCHER}'`, OTHER_MESSAGES / OTHER_CONVERSATIONS));
  await pool.query('analyze conversation_messages; analyze conversation_states');
  const counts = await pool.query<{ all: string; mine: string }>(
    `select count(*) as all, count(*) filter (where c.user_id = $1) as mine
     from conversation_messages m join conversation_states c on c.id = m.conversation_id`,
    [SEARCHER],
  );
  const sizes = await pool.query<{ index: string; vectors: string; content: string }>(
    `select pg_relation_size('conversation_messages_user_search_idx') as index,
            (select sum(pg_column_size(search_vector)) from conversation_messages) as vectors,
            (select sum(pg_column_size(content)) from conversation_messages) as content`,
  );
  const all = Number(counts.rows[0]?.all);
  const per100k = (bytes: string | undefined) => `${(((Number(bytes) / all) * 100_000) / 2 ** 20).toFixed(1)} MiB`;
  console.log(
    `seeded ${all} messages (${counts.rows[0]?.mine} the searcher's) of ${USERS} users in ${((Date.now() - seeded) / 1000).toFixed(0)} s`,
  );
  console.log(
    `per 100k messages: GIN index (user_id, search_vector) ${per100k(sizes.rows[0]?.index)}, stored search_vector ${per100k(sizes.rows[0]?.vectors)} (content itself ${per100k(sizes.rows[0]?.content)})`,
  );

  const token = await stack.devToken(SEARCHER);
  const search = async (q: string) => {
    const started = performance.now();
    const res = await fetch(`${stack.url}${API_BASE}/search?q=${encodeURIComponent(q)}&limit=20`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const body = SearchResults.parse(await res.json());
    return { ms: performance.now() - started, found: body.results.length };
  };
  const kinds: Array<[string, () => string]> = [
    ['one word', () => queryWord()],
    ['two words', () => `${queryWord()} ${queryWord()}`],
    ['a phrase', () => `"${queryWord()} ${queryWord()}"`],
    ['a word, -another', () => `${queryWord()} -${queryWord()}`],
  ];
  for (let i = 0; i < 30; i++) await search(queryWord());
  // The same path without search: what a request costs here before Postgres does any work for it.
  const base: number[] = [];
  for (let i = 0; i < 50; i++) {
    const started = performance.now();
    await (
      await fetch(`${stack.url}${API_BASE}/conversations?limit=20`, { headers: { authorization: `Bearer ${token}` } })
    ).text();
    base.push(performance.now() - started);
  }
  base.sort((a, b) => a - b);
  console.log(
    `baseline GET /conversations?limit=20 (same path, a trivial query): p50 ${percentile(base, 50).toFixed(1)} ms`,
  );
  const times: number[] = [];
  const byKind = new Map<string, number[]>();
  let empty = 0;
  for (let i = 0; i < timed; i++) {
    const [kind, make] = kinds[i % kinds.length] as [string, () => string];
    const { ms, found } = await search(make());
    times.push(ms);
    byKind.set(kind, [...(byKind.get(kind) ?? []), ms]);
    if (found === 0) empty++;
  }
  times.sort((a, b) => a - b);
  const p50 = percentile(times, 50);
  const p99 = percentile(times, 99);
  console.log(
    `GET /search, ${timed} queries (HTTP through wrangler dev, workerd, the Neon proxy): p50 ${p50.toFixed(1)} ms (target ≤ 30, ${(p50 / 30).toFixed(2)}×), p99 ${p99.toFixed(1)} ms (target ≤ 150, ${(p99 / 150).toFixed(2)}×); ${empty} found nothing`,
  );
  for (const [kind, list] of byKind) {
    list.sort((a, b) => a - b);
    console.log(
      `  ${kind.padEnd(18)} p50 ${percentile(list, 50).toFixed(1)} ms, p99 ${percentile(list, 99).toFixed(1)} ms`,
    );
  }
  const worst = await search('w0');
  console.log(`  the most frequent word (w0, in most messages): ${worst.ms.toFixed(1)} ms (informational)`);

  // The same statement inside Postgres alone (EXPLAIN ANALYZE's execution time): what search costs the database,
  // apart from the HTTP path above, and the plan's index.
  const explain = async (q: string) => {
    const res = await pool.query<{ 'QUERY PLAN': [{ 'Execution Time': number; Plan: unknown }] }>(
      `explain (analyze, format json) ${SEARCH_SQL}`,
      [SEARCHER, q, 21, null, null, null],
    );
    const [plan] = res.rows[0]?.['QUERY PLAN'] ?? [];
    if (!plan) throw new Error('no plan');
    return plan;
  };
  const inPostgres: number[] = [];
  for (let i = 0; i < 200; i++) {
    const [, make] = kinds[i % kinds.length] as [string, () => string];
    inPostgres.push((await explain(make()))['Execution Time']);
  }
  inPostgres.sort((a, b) => a - b);
  const w0 = await explain('w0');
  const indexes = [...JSON.stringify(w0.Plan).matchAll(/"Index Name":"([^"]+)"/g)].map((m) => m[1]);
  console.log(
    `in Postgres alone (EXPLAIN ANALYZE, 200 queries of the same kinds): p50 ${percentile(inPostgres, 50).toFixed(1)} ms, p99 ${percentile(inPostgres, 99).toFixed(1)} ms; w0 ${w0['Execution Time'].toFixed(1)} ms; indexes used: ${[...new Set(indexes)].join(', ')}`,
  );
} finally {
  await pool.end();
  await stack.stop();
}
