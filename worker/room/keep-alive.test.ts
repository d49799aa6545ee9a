import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { allEvents, client, eventually, uniqueUser } from '../test-support';

/**
 * A Durable Object with no request, socket message or alarm for 70–140 s is evicted, even while its fetch to the
 * agent streams. Locally nothing evicts it, so these tests check what keeps it alive in production: the room's
 * alarm, armed while a reply streams and re-armed by each alarm until the reply ends. (A reply whose caller went
 * away is finished and stored: e2e/ai-sdk-route.test.ts, over real HTTP.)
 */
const HEARTBEAT_MS = 30_000;

const alarmOf = (conversationId: string) =>
  runInDurableObject(env.ROOMS.get(env.ROOMS.idFromName(conversationId)), (_room, state) => state.storage.getAlarm());

describe('a reply that streams with no client', () => {
  it('keeps its room’s alarm armed (at most 30 s ahead, re-armed by each alarm) until it ends', async () => {
    const alice = client(uniqueUser('alice'));
    const c = await alice.createConversation();
    const res = await alice.sendStreaming(c.id, '!dev words=60 delay_ms=40');
    const armed = await eventually(
      () => alarmOf(c.id),
      (at) => at !== null,
    );
    expect(armed).not.toBeNull();
    expect((armed ?? 0) - Date.now()).toBeLessThanOrEqual(HEARTBEAT_MS);
    const stub = env.ROOMS.get(env.ROOMS.idFromName(c.id));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const rearmed = await alarmOf(c.id);
    expect(rearmed).not.toBeNull();
    expect((rearmed ?? 0) - Date.now()).toBeLessThanOrEqual(HEARTBEAT_MS);
    await allEvents(res);
    // Once the reply has ended, an alarm does not arm another (no socket is open, Postgres is up).
    await runDurableObjectAlarm(stub);
    expect(await alarmOf(c.id)).toBeNull();
  });
});
