import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config';
import type { Message } from '../wire';
import { AgentHistory } from './agent-history';
import { newConversation, newTurn } from './messages';
import { RoomStore } from './store';

const bindings = env as unknown as Record<string, string>;
const bounded = (settings: Record<string, string>) => loadConfig({ ...bindings, ...settings });

/** Runs `fn` on a fresh room's storage, through a store of its own (the room's is left alone). */
const withStore = <T>(fn: (store: RoomStore) => T | Promise<T>) =>
  runInDurableObject(env.ROOMS.get(env.ROOMS.newUniqueId()), (_room, state) => fn(new RoomStore(state.storage)));

/** Commits `n` sends, each with its reply ended as `reply i`, and returns the last user message's turn. */
function converse(store: RoomStore, history: AgentHistory, n: number) {
  const fresh = store.conversation() === null;
  let c = store.conversation() ?? newConversation('c1', 'alice');
  let last: (ReturnType<typeof newTurn> & { user: Message }) | null = null;
  for (let i = 0; i < n; i++) {
    const turn = newTurn(c, store.lastSeq(), `send ${i}`, null, store.head());
    last = { ...turn, user: store.saveTurn({ ...turn, userIsNew: true }, null, fresh && i === 0).user };
    history.remember(last.user);
    const reply = { ...last.reply, content: `reply ${i}`, parts: [{ type: 'text' as const, text: `reply ${i}` }] };
    store.saveEndedReply({ ...reply, status: 'complete' });
    history.remember({ ...reply, status: 'complete' });
    c = last.conversation;
  }
  return last as ReturnType<typeof newTurn> & { user: Message };
}

describe('AgentHistory (the one place the agent’s history is bounded, SPEC §6)', () => {
  it('reads the newest AGENTCORE_HISTORY_LIMIT ended messages from storage, ending with the new user message', async () => {
    const seen = await withStore((store) => {
      const history = new AgentHistory();
      converse(store, history, 4);
      const c = store.conversation() ?? newConversation('c1', 'alice');
      const turn = newTurn(c, store.lastSeq(), 'newest', null, store.head());
      const { user } = store.saveTurn({ ...turn, userIsNew: true }, null, false);
      history.remember(user);
      return history.for(store, user, bounded({ AGENTCORE_HISTORY_LIMIT: '3' })).map((m) => m.parts);
    });
    expect(seen).toEqual([
      [{ type: 'text', text: 'send 3' }],
      [{ type: 'text', text: 'reply 3' }],
      [{ type: 'text', text: 'newest' }],
    ]);
  });

  it('keeps its view within the bounds as messages are remembered, and drops the oldest by bytes first', async () => {
    const seen = await withStore((store) => {
      const history = new AgentHistory();
      const config = bounded({ AGENTCORE_HISTORY_LIMIT: '50', AGENTCORE_HISTORY_MAX_BYTES: '400' });
      const first = converse(store, history, 1);
      const before = history.for(store, first.user, config).length;
      const later = converse(store, history, 3);
      const turn = newTurn(later.conversation, store.lastSeq(), 'x'.repeat(150), null, store.head());
      const { user } = store.saveTurn({ ...turn, userIsNew: true }, null, false);
      history.remember(user);
      const after = history.for(store, user, config);
      return { before, ids: after.map((m) => m.id), last: user.id, bytes: JSON.stringify(after).length };
    });
    expect(seen.before).toBe(1);
    expect(seen.ids.at(-1)).toBe(seen.last);
    expect(seen.ids.length).toBeGreaterThan(1);
    expect(seen.ids.length).toBeLessThan(8);
    expect(seen.bytes).toBeLessThanOrEqual(400 + seen.ids.length + 1);
  });
});
