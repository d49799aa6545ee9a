/**
 * Search snippets (SPEC §10): plain text cut around the first word the query asks for, with the ranges of the words
 * it asks for, counted in code points. No markup: the page marks the ranges itself, so no text from a message can
 * ever be read as HTML.
 */

/** A run of letters, digits and combining marks: a word as Postgres' parser splits text, near enough to mark it. */
const WORD = /[\p{L}\p{N}\p{M}]+/gu;
/** A query token: an optionally excluded "phrase" (its closing quote may be missing), or a bare word. */
const QUERY_TOKEN = /(-?)"([^"]*)"?|(-?)(\S+)/gu;

/** How long a snippet is at most, in code points, and how much of it comes before the first found word. */
const SNIPPET_CODE_POINTS = 200;
const LEAD_CODE_POINTS = 60;
const ELLIPSIS = '…';

export interface Snippet {
  text: string;
  highlights: Array<[number, number]>;
}

/**
 * The words a web-search query asks for, lower-cased: those of its phrases and bare words, not the excluded ones
 * (`-word`, `-"a phrase"`) nor the `or` operator. Empty when it asks for nothing (only exclusions or punctuation).
 */
export function wantedWords(query: string): string[] {
  const wanted = new Set<string>();
  for (const m of query.matchAll(QUERY_TOKEN)) {
    const excluded = (m[1] ?? m[3]) === '-';
    const text = m[2] ?? m[4] ?? '';
    if (excluded || (m[4] !== undefined && text.toLowerCase() === 'or')) continue;
    for (const w of text.matchAll(WORD)) wanted.add(w[0].toLowerCase());
  }
  return [...wanted];
}

/** For each UTF-16 index of `text` (and its end), how many code points come before it. */
function codePointIndex(text: string): Uint32Array {
  const index = new Uint32Array(text.length + 1);
  let cp = 0;
  for (let i = 0; i < text.length; i++) {
    index[i] = cp;
    const unit = text.charCodeAt(i);
    // A high surrogate and its low one are one code point: the low one shares the index of the pair's end.
    if (unit < 0xd800 || unit > 0xdbff || i + 1 >= text.length) cp++;
  }
  index[text.length] = cp;
  return index;
}

/**
 * The snippet of `content` for `wanted` words: white space folded to single spaces, at most 200 code points starting
 * a little before the first wanted word (an ellipsis where text was cut), with every wanted word in it marked.
 */
export function snippetOf(content: string, wanted: readonly string[]): Snippet {
  const flat = content.replace(/\s+/gu, ' ').trim();
  const cp = codePointIndex(flat);
  const want = new Set(wanted);
  const words = [...flat.matchAll(WORD)].map((m) => ({
    start: cp[m.index] ?? 0,
    end: cp[m.index + m[0].length] ?? 0,
    found: want.has(m[0].toLowerCase()),
  }));
  const total = cp[flat.length] ?? 0;
  const first = words.find((w) => w.found);
  let from = first ? Math.max(0, first.start - LEAD_CODE_POINTS) : 0;
  // Start on a word's beginning, not in the middle of one.
  if (from > 0) from = words.find((w) => w.start >= from && w.start <= (first?.start ?? 0))?.start ?? from;
  const to = Math.min(total, from + SNIPPET_CODE_POINTS);
  const chars = [...flat];
  const lead = from > 0 ? ELLIPSIS : '';
  const text = `${lead}${chars.slice(from, to).join('').trim()}${to < total ? ELLIPSIS : ''}`;
  const shift = lead.length - from;
  const highlights = words
    .filter((w) => w.found && w.start >= from && w.end <= to)
    .map((w): [number, number] => [w.start + shift, w.end + shift]);
  return { text, highlights };
}
