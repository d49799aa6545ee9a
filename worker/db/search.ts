import { z } from 'zod';
import type { Config } from '../config';
import { ApiError } from '../errors';
import { Id, type SearchQuery, type SearchResults } from '../wire';
import { sqlQuery } from './client';
import { isTimestamp } from './conversations';
import { decodeCursor, encodeCursor } from './cursor';
import { DatabaseUnavailable } from './errors';
import { snippetOf, wantedWords } from './snippet';

interface Cursor {
  rank: number;
  at: string;
  id: string;
}

const CursorFields = z.tuple([z.number(), z.string().refine(isTimestamp), Id]);

function cursorOf(c: Cursor): string {
  return encodeCursor([c.rank, c.at, c.id]);
}

function readCursor(raw: string): Cursor {
  const [rank, at, id] = decodeCursor(raw, CursorFields);
  return { rank, at, id };
}

/**
 * The search (SPEC §10), in one statement. Messages are found through their owner and their stored `search_vector`
 * (one btree_gin index over both, so only the searcher's matches are read and ranked, not every user's);
 * conversations whose title matches but none of whose messages do are found too, through their first message. The
 * query text is lower-cased exactly as the stored words were (schema.ts searchWords). Only the user's messages and
 * conversations are read, so another user's cannot be found; a deleted conversation has no rows left. A query of only
 * exclusions (querytree 'T') would read every message, so it finds nothing. Ranked by ts_rank (divided by
 * 1 + log(length), so a long message does not outrank a short one by size alone), then newest first; the cursor
 * continues after (rank, created_at, id), ranks carried as float8, which JSON round-trips exactly.
 */
export const SEARCH_SQL = `
with q as (
  select websearch_to_tsquery('simple'::regconfig, lower($2 collate "pg_c_utf8")) as q
), message_hits as (
  select m.id, m.conversation_id, m.seq, m.role, m.created_at,
         ts_rank(m.search_vector, q.q, 1)::float8 as rank
  from conversation_messages m
  cross join q
  where m.user_id = $1 and m.search_vector @@ q.q and querytree(q.q) not in ('', 'T')
), title_hits as (
  select first.id, c.id as conversation_id, first.seq, first.role, first.created_at,
         ts_rank(to_tsvector('simple'::regconfig, lower(c.title collate "pg_c_utf8")), q.q, 1)::float8 as rank
  from conversation_states c
  cross join q
  cross join lateral (
    select m.id, m.seq, m.role, m.created_at from conversation_messages m
    where m.conversation_id = c.id order by m.seq limit 1
  ) first
  where c.user_id = $1
    and to_tsvector('simple'::regconfig, lower(c.title collate "pg_c_utf8")) @@ q.q
    and querytree(q.q) not in ('', 'T')
    and not exists (select 1 from message_hits h where h.conversation_id = c.id)
), page as (
  select * from (select * from message_hits union all select * from title_hits) hits
  where $4::float8 is null or (rank, created_at, id) < ($4::float8, $5::timestamptz, $6::uuid)
  order by rank desc, created_at desc, id desc
  limit $3
)
select page.id, page.conversation_id, page.seq, page.role, page.rank,
       page.created_at::text as created_at, c.title, m.content
from page
join conversation_states c on c.id = page.conversation_id
join conversation_messages m on m.id = page.id
order by page.rank desc, page.created_at desc, page.id desc
`;

interface Row {
  id: string;
  conversation_id: string;
  seq: number;
  role: 'user' | 'assistant';
  rank: number;
  created_at: string;
  title: string;
  content: string;
}

/** The user's messages (and titles) that match `q.q`, best first (SPEC §10). */
export async function search(config: Config, userId: string, q: SearchQuery): Promise<SearchResults> {
  const wanted = wantedWords(q.q);
  if (wanted.length === 0) {
    throw new ApiError('invalid_request', 'query.q: has no word to look for (only exclusions or punctuation)');
  }
  const after = q.cursor ? readCursor(q.cursor) : null;
  let rows: Row[];
  try {
    rows = await sqlQuery<Row>(config, SEARCH_SQL, [
      userId,
      q.q,
      q.limit + 1,
      after?.rank ?? null,
      after?.at ?? null,
      after?.id ?? null,
    ]);
  } catch (err) {
    throw new DatabaseUnavailable('search is unavailable right now', { cause: err });
  }
  const page = rows.slice(0, q.limit);
  const last = page.at(-1);
  return {
    results: page.map((r) => ({
      conversation: { id: r.conversation_id, title: r.title },
      message: { id: r.id, seq: r.seq, role: r.role, created_at: new Date(r.created_at).toISOString() },
      snippet: snippetOf(r.content, wanted),
    })),
    next_cursor: rows.length > q.limit && last ? cursorOf({ rank: last.rank, at: last.created_at, id: last.id }) : null,
  };
}
