import { describe, expect, it } from 'vitest';
import { type Client, client, eventually, mustOpen, pgQuery, uniqueUser } from '../test-support';
import { ErrorEnvelope, MAX_COMMENT_CODE_POINTS, Message, type ServerFrame } from '../wire';

const put = (who: Client, messageId: string, body: unknown) =>
  who.call('PUT', `/messages/${messageId}/feedback`, { body });
const remove = (who: Client, messageId: string) => who.call('DELETE', `/messages/${messageId}/feedback`);

async function codeOf(res: Promise<Response>): Promise<[number, string]> {
  const r = await res;
  return [r.status, ErrorEnvelope.parse(await r.json()).error.code];
}

interface Row {
  conversation_id: string;
  user_id: string;
  rating: string;
  comment: string | null;
}

const rowsOf = (messageId: string) =>
  pgQuery<Row>('select conversation_id, user_id, rating, comment from message_feedback where message_id = $1', [
    messageId,
  ]);

const feedbackFrame = (id: string, rating: string | null) => (frames: ServerFrame[]) =>
  frames.some((f) => f.type === 'message' && f.message.id === id && (f.message.feedback?.rating ?? null) === rating);

describe('feedback on replies (SPEC §9)', () => {
  it('rates a reply, changes and removes the rating: every tab, the history and Postgres follow', async () => {
    const alice = client(uniqueUser('alice'));
    const sent = await alice.send(undefined, '!dev words=3');
    const c = sent.conversation.id;
    const reply = sent.reply.id;
    expect(sent.reply.feedback).toBeNull();
    const tabs = [await mustOpen(c, alice.userId), await mustOpen(c, alice.userId)];

    const up = await put(alice, reply, { rating: 'up', comment: 'exactly right' });
    expect(up.status).toBe(200);
    expect(Message.parse(await up.json()).feedback).toEqual({ rating: 'up', comment: 'exactly right' });
    for (const tab of tabs) await tab.until(feedbackFrame(reply, 'up'));
    const shown = (await alice.history(c)).messages.find((m) => m.id === reply);
    expect(shown?.feedback).toEqual({ rating: 'up', comment: 'exactly right' });
    const stored = await eventually(
      () => rowsOf(reply),
      (x) => x.length === 1,
    );
    expect(stored).toEqual([{ conversation_id: c, user_id: alice.userId, rating: 'up', comment: 'exactly right' }]);

    expect((await put(alice, reply, { rating: 'down' })).status).toBe(200);
    for (const tab of tabs) await tab.until(feedbackFrame(reply, 'down'));
    const changed = await eventually(
      () => rowsOf(reply),
      (x) => x[0]?.rating === 'down',
    );
    expect(changed).toEqual([{ conversation_id: c, user_id: alice.userId, rating: 'down', comment: null }]);

    expect((await remove(alice, reply)).status).toBe(204);
    for (const tab of tabs) await tab.until(feedbackFrame(reply, null));
    expect((await alice.history(c)).messages.find((m) => m.id === reply)?.feedback).toBeNull();
    expect(
      await eventually(
        () => rowsOf(reply),
        (x) => x.length === 0,
      ),
    ).toEqual([]);
    for (const tab of tabs) tab.close();
  }, 60_000);

  it('takes feedback on the owner’s replies only, with a comment of at most 2,000 characters', async () => {
    const alice = client(uniqueUser('alice'));
    const sent = await alice.send(undefined, '!dev words=2');
    await eventually(
      () => pgQuery('select 1 from conversation_messages where id = $1', [sent.reply.id]),
      (x) => x.length === 1,
    );
    expect(await codeOf(put(alice, sent.message.id, { rating: 'up' }))).toEqual([400, 'invalid_request']);
    expect(await codeOf(put(alice, sent.reply.id, { rating: 'meh' }))).toEqual([400, 'invalid_request']);
    const long = 'x'.repeat(MAX_COMMENT_CODE_POINTS + 1);
    expect(await codeOf(put(alice, sent.reply.id, { rating: 'up', comment: long }))).toEqual([400, 'invalid_request']);
    expect(await codeOf(put(alice, crypto.randomUUID(), { rating: 'up' }))).toEqual([404, 'not_found']);
    const bob = client(uniqueUser('bob'));
    expect(await codeOf(put(bob, sent.reply.id, { rating: 'down' }))).toEqual([404, 'not_found']);
    expect(await codeOf(remove(bob, sent.reply.id))).toEqual([404, 'not_found']);
    expect((await alice.history(sent.conversation.id)).messages.every((m) => m.feedback === null)).toBe(true);
  }, 60_000);
});
