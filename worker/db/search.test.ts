import { describe, expect, it } from 'vitest';
import { type Client, client, eventually, uniqueUser } from '../test-support';
import { ErrorEnvelope, type SearchResult, SearchResults } from '../wire';

/** A user message with `text` (the dev agent answers with one word of its own vocabulary). */
const say = (alice: Client, conversationId: string, text: string) =>
  alice.send(conversationId, `!dev words=1\n${text}`);

const find = async (alice: Client, q: string, extra = '') =>
  SearchResults.parse(await alice.json('GET', `/search?q=${encodeURIComponent(q)}${extra}`));

/** The search once Postgres has every message the room flushed (`count` results expected). */
const settled = (alice: Client, q: string, count: number) =>
  eventually(
    () => find(alice, q, '&limit=50'),
    (r) => r.results.length >= count,
  );

/** What each result's highlights point at, by code points, as the page will cut them. */
const marked = (r: SearchResult) => r.snippet.highlights.map(([s, e]) => [...r.snippet.text].slice(s, e).join(''));
const contents = (r: SearchResults) => r.results.map((x) => x.snippet.text.replace(/^!dev words=1 /, ''));

describe('search (SPEC §10)', () => {
  it('finds words of any language by their words, whatever their case, and marks them in plain-text snippets', async () => {
    const alice = client(uniqueUser('search'));
    const c = await alice.createConversation('languages');
    await say(alice, c.id, 'Привет Мир, как дела');
    await say(alice, c.id, 'Καλημέρα ΚΌΣΜΕ και φίλοι');
    await say(alice, c.id, '東京 タワー の 夜景 🌃 <b>bold</b>');
    await settled(alice, 'タワー', 1);

    const cyrillic = await find(alice, 'мир');
    expect(contents(cyrillic)).toEqual(['Привет Мир, как дела']);
    expect(marked(cyrillic.results[0] as SearchResult)).toEqual(['Мир']);
    expect(contents(await find(alice, 'ПРИВЕТ'))).toEqual(['Привет Мир, как дела']);
    expect(contents(await find(alice, 'κόσμε'))).toEqual(['Καλημέρα ΚΌΣΜΕ και φίλοι']);

    // Offsets count code points: the emoji before "bold" is one, not two UTF-16 units.
    const japanese = await find(alice, 'タワー bold');
    expect(marked(japanese.results[0] as SearchResult)).toEqual(['タワー', 'bold']);
    expect(japanese.results[0]?.snippet.text).toContain('<b>bold</b>');
    expect(japanese.results[0]).toMatchObject({
      conversation: { id: c.id, title: 'languages' },
      message: { role: 'user', seq: 5 },
    });
    // A part of a word is not a word.
    expect((await find(alice, 'тов')).results).toEqual([]);
  });

  it('takes phrases and exclusions as web search does', async () => {
    const alice = client(uniqueUser('search'));
    const c = await alice.createConversation('fruit');
    await say(alice, c.id, 'a red apple on the table');
    await say(alice, c.id, 'the apple is red');
    await say(alice, c.id, 'a green apple tree');
    await settled(alice, 'apple', 3);

    expect(contents(await find(alice, '"red apple"'))).toEqual(['a red apple on the table']);
    expect(contents(await find(alice, 'apple -red')).sort()).toEqual(['a green apple tree']);
    expect(contents(await find(alice, 'apple -"red apple"')).sort()).toEqual([
      'a green apple tree',
      'the apple is red',
    ]);
    expect(contents(await find(alice, 'green or table')).sort()).toEqual([
      'a green apple tree',
      'a red apple on the table',
    ]);
    const excludedOnly = await alice.call('GET', '/search?q=-apple');
    expect(excludedOnly.status).toBe(400);
    expect(ErrorEnvelope.parse(await excludedOnly.json()).error.message).toMatch(/query\.q/);
  });

  it("never returns another user's messages nor a deleted conversation's", async () => {
    const alice = client(uniqueUser('search'));
    const bob = client(uniqueUser('search'));
    const mine = await alice.createConversation('mine');
    const doomed = await alice.createConversation('doomed');
    const bobs = await bob.createConversation('mine too');
    await say(alice, mine.id, 'the secret word is quokka');
    await say(alice, doomed.id, 'quokka in a conversation about to go');
    await say(bob, bobs.id, 'quokka belongs to bob');
    await settled(alice, 'quokka', 2);
    expect((await find(bob, 'quokka')).results.map((r) => r.conversation.id)).toEqual([bobs.id]);

    await alice.json('DELETE', `/conversations/${doomed.id}`, {}, 204);
    const after = await find(alice, 'quokka');
    expect(after.results.map((r) => r.conversation.id)).toEqual([mine.id]);
    // Not through its title either.
    expect((await find(alice, 'doomed')).results).toEqual([]);
  });

  it('searches titles: a conversation whose title matches is found through its first message', async () => {
    const alice = client(uniqueUser('search'));
    const c = await alice.createConversation('Quarterly budget review');
    await say(alice, c.id, 'numbers for the first three months');
    await settled(alice, 'months', 1);
    const found = await find(alice, 'budget');
    expect(found.results).toHaveLength(1);
    expect(found.results[0]).toMatchObject({
      conversation: { id: c.id, title: 'Quarterly budget review' },
      message: { seq: 1, role: 'user' },
    });
  });

  it('ranks by relevance, then newest first, and pages through that order with its cursor', async () => {
    const alice = client(uniqueUser('search'));
    const c = await alice.createConversation('ranking');
    await say(alice, c.id, 'zebra zebra zebra');
    for (const n of ['one', 'two', 'three', 'four']) await say(alice, c.id, `zebra lion ${n}`);
    const all = await settled(alice, 'zebra', 5);
    // The message that says it three times first although it is the oldest; the others newest first.
    expect(contents(all)).toEqual([
      'zebra zebra zebra',
      'zebra lion four',
      'zebra lion three',
      'zebra lion two',
      'zebra lion one',
    ]);
    expect(all.next_cursor).toBeNull();

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const more: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const page = await find(alice, 'zebra', `&limit=2${more}`);
      expect(page.results.length).toBeLessThanOrEqual(2);
      seen.push(...contents(page));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual(contents(all));
  });

  it('refuses a bad query with 400: empty, too long, a crafted cursor, an unknown parameter', async () => {
    const alice = client(uniqueUser('search'));
    const forged = btoa(JSON.stringify([0.1, 'yesterday', crypto.randomUUID()]));
    for (const qs of [
      'q=',
      'q=%20%20',
      `q=${'x'.repeat(201)}`,
      `q=a&cursor=${forged}`,
      'q=a&limit=51',
      'q=a&sort=new',
      '',
    ]) {
      const res = await alice.call('GET', `/search?${qs}`);
      expect(`${qs.slice(0, 30)} → ${res.status}`).toBe(`${qs.slice(0, 30)} → 400`);
      expect(ErrorEnvelope.parse(await res.json()).error.code).toBe('invalid_request');
    }
    expect((await alice.call('GET', `/search?q=${'я'.repeat(200)}`)).status).toBe(200);
  });
});
