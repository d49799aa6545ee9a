import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { newConversation, newTurn } from './messages';
import { RoomStore } from './store';

/** Runs `fn` on a fresh room's storage, through a store of its own (the room's is left alone). */
const withStore = <T>(fn: (store: RoomStore) => T | Promise<T>) =>
  runInDurableObject(env.ROOMS.get(env.ROOMS.newUniqueId()), (_room, state) => fn(new RoomStore(state.storage)));

describe('RoomStore', () => {
  it('commits a send as one turn: both messages, the conversation after them, the bucket, both owed to Postgres', async () => {
    const seen = await withStore((store) => {
      const c = newConversation('c1', 'alice');
      const turn = newTurn(c, store.lastSeq(), 'hello there', 'client-1', null);
      store.saveTurn({ ...turn, userIsNew: true }, { tokens: 2, updatedAt: 1 }, true);
      return {
        seq: store.lastSeq(),
        conversation: store.conversation(),
        byClientId: store.messageByClientId('c1', 'client-1')?.id === turn.user.id,
        reply: store.replyTo('c1', turn.user.id)?.status,
        bucket: store.sendBucket(),
        owed: store.pending('c1')?.messages.map((m) => m.role),
      };
    });
    expect(seen.seq).toBe(2);
    expect(seen.conversation).toMatchObject({ title: 'hello there', messageCount: 2, metadata: { streaming: true } });
    expect(seen.byClientId).toBe(true);
    expect(seen.reply).toBe('streaming');
    expect(seen.bucket).toEqual({ tokens: 2, updatedAt: 1 });
    expect(seen.owed).toEqual(['user', 'assistant']);
  });

  it('stores a reply’s final form, in its place in the tree, with the conversation no longer streaming', async () => {
    const seen = await withStore((store) => {
      const turn = newTurn(newConversation('c2', 'alice'), 0, 'hi', null, null);
      store.saveTurn({ ...turn, userIsNew: true }, null, true);
      store.saveEndedReply({ ...turn.reply, content: 'done', status: 'complete' });
      return { user: turn.user.id, reply: store.message('c2', turn.reply.id), conversation: store.conversation() };
    });
    // The final form is written whole (INSERT OR REPLACE): its parent must be written with it, not cleared.
    expect(seen.reply).toMatchObject({ content: 'done', status: 'complete', parent_id: seen.user });
    expect(seen.conversation?.metadata.streaming).toBe(false);
  });

  it('notes a delete: wiped, owed to Postgres, forgettable once Postgres has done it, live again when remade', async () => {
    const seen = await withStore((store) => {
      store.saveConversation(newConversation('c3', 'alice'));
      store.markDeleted('c3');
      const deleted = { gone: store.conversation(), isDeleted: store.isDeleted(), owed: store.owedDelete() };
      const forgettableBefore = store.isForgettable();
      store.deleteDone();
      const forgettableAfter = store.isForgettable();
      store.markLive();
      return { deleted, forgettableBefore, forgettableAfter, liveAgain: !store.isDeleted() };
    });
    expect(seen.deleted).toEqual({ gone: null, isDeleted: true, owed: 'c3' });
    expect(seen.forgettableBefore).toBe(false);
    expect(seen.forgettableAfter).toBe(true);
    expect(seen.liveAgain).toBe(true);
  });

  it('uses a ticket up on its first use, and refuses one whose time has passed', async () => {
    const seen = await withStore((store) => {
      const tokenExpiresAt = Date.now() + 3_600_000;
      store.addTicket('t-live', 'alice', Date.now() + 60_000, tokenExpiresAt);
      store.addTicket('t-old', 'bob', Date.now() - 1, tokenExpiresAt);
      const user = (taken: ReturnType<RoomStore['takeTicket']>) => taken?.userId ?? null;
      return [user(store.takeTicket('t-live')), user(store.takeTicket('t-live')), user(store.takeTicket('t-old'))];
    });
    expect(seen).toEqual(['alice', null, null]);
  });
});
