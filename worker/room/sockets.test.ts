import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config';
import { ApiError } from '../errors';
import { Metrics } from '../metrics';
import { client, mustOpen, uniqueUser } from '../test-support';
import { RoomSockets } from './sockets';
import { RoomStore } from './store';

/** Runs `fn` in a conversation's room with a sockets module and a store over its state. */
const inRoom = <T>(conversationId: string, fn: (sockets: RoomSockets, store: RoomStore) => T | Promise<T>) =>
  runInDurableObject(env.ROOMS.get(env.ROOMS.idFromName(conversationId)), (_room, state) =>
    fn(new RoomSockets(state, () => loadConfig(env), new Metrics(undefined)), new RoomStore(state.storage)),
  );

const upgradeRequest = () => new Request('http://room/ws', { headers: { upgrade: 'websocket' } });

const codeOf = (fn: () => unknown) => {
  try {
    fn();
    return null;
  } catch (err) {
    return err instanceof ApiError ? err.code : String(err);
  }
};

describe('RoomSockets', () => {
  it('lets a ticket open one upgrade of its own conversation; any attempt uses it up', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const asker = { userId: alice.userId, tokenExpiresAt: Date.now() + 3_600_000 };
    const seen = await inRoom(c.id, (sockets, store) => {
      const elsewhere = sockets.issueTicket(store, c.id, asker).ticket;
      const fresh = sockets.issueTicket(store, c.id, asker).ticket;
      return {
        prefixed: fresh.startsWith(`${c.id}.`),
        otherConversation: codeOf(() => sockets.upgrader(store, upgradeRequest(), null, elsewhere, 'another-id')),
        usedUp: codeOf(() => sockets.upgrader(store, upgradeRequest(), null, elsewhere, c.id)),
        fresh: sockets.upgrader(store, upgradeRequest(), null, fresh, c.id).userId,
        again: codeOf(() => sockets.upgrader(store, upgradeRequest(), null, fresh, c.id)),
        noUpgrade: codeOf(() => sockets.upgrader(store, new Request('http://room/ws'), asker, null, null)),
      };
    });
    expect(seen).toEqual({
      prefixed: true,
      otherConversation: 'unauthorized',
      usedUp: 'unauthorized',
      fresh: alice.userId,
      again: 'unauthorized',
      noUpgrade: 'invalid_request',
    });
  });

  it('sweeps out a socket silent for longer than WS_PING_TIMEOUT_SECONDS, and not before', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const s = await mustOpen(c.id, alice.userId);
    const timeoutMs = loadConfig(env).WS_PING_TIMEOUT_SECONDS * 1000;
    await inRoom(c.id, (sockets) => sockets.sweep(Date.now() + timeoutMs - 1_000));
    s.send({ type: 'ping' });
    await s.next('pong');
    expect(s.closed).toBeNull();
    await inRoom(c.id, (sockets) => sockets.sweep(Date.now() + timeoutMs + 1_000));
    expect((await s.closedWith()).code).toBe(4408);
  });

  it('closes a socket that sends a binary frame (1003), and one that sends a frame over the size limit (1009)', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const binary = await mustOpen(c.id, alice.userId);
    binary.ws.send(new Uint8Array([1, 2, 3]));
    expect((await binary.closedWith()).code).toBe(1003);
    const large = await mustOpen(c.id, alice.userId);
    large.ws.send(JSON.stringify({ type: 'send', content: 'x'.repeat(300_000) }));
    expect((await large.closedWith()).code).toBe(1009);
  });
});
