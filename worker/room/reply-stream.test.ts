import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { Chunk } from '../wire';
import { ReplyStream } from './reply-stream';

/** Runs `fn` with a fresh room's storage: the reply stream's own, as the room hands it over. */
const inRoomStorage = <T>(fn: (storage: DurableObjectStorage) => Promise<T>) =>
  runInDurableObject(env.ROOMS.get(env.ROOMS.newUniqueId()), (_room, state) => fn(state.storage));

const delta = (text: string): Chunk => ({ type: 'text-delta', id: 't', delta: text });

describe('ReplyStream', () => {
  it('replays to a subscriber that joins mid-reply, then delivers live: each index once, in order', async () => {
    const seen = await inRoomStorage(async (storage) => {
      const stream = new ReplyStream('r1', storage);
      stream.push({ type: 'text-start', id: 't' });
      stream.push(delta('a'));
      const got: number[] = [];
      const late = {};
      stream.subscribe(late, { next: 0, deliver: (i) => got.push(i), end: () => got.push(-1) }, 1);
      stream.push(delta('b'));
      await stream.end();
      stream.push(delta('after the end'));
      return got;
    });
    expect(seen).toEqual([1, 2, -1]);
  });

  it('keeps its chunks in batches; a restarted room restores them, and where the agent stood after them', async () => {
    const restored = await inRoomStorage(async (storage) => {
      let firstKept = 0;
      const kept = new Promise<void>((resolve) => {
        const stream = new ReplyStream('r2', storage, () => {
          firstKept++;
          resolve();
        });
        stream.push({ type: 'text-start', id: 't' });
        stream.progress.resumable = true;
        stream.progress.agentChunks = 7;
        stream.push(delta('kept'));
      });
      await kept;
      const again = await ReplyStream.restore(storage, 'r2');
      return { firstKept, chunks: again.chunks.map((c) => c.chunk), progress: again.progress, size: again.size };
    });
    expect(restored.firstKept).toBe(1);
    expect(restored.chunks).toEqual([{ type: 'text-start', id: 't' }, delta('kept')]);
    expect(restored.progress).toEqual({ resumable: true, agentChunks: 7 });
  });

  it('keeps a batch and where the agent stood after it as one row', async () => {
    const rows = await inRoomStorage(async (storage) => {
      await new Promise<void>((resolve) => {
        const stream = new ReplyStream('r6', storage, resolve);
        stream.push({ type: 'text-start', id: 't' });
        stream.push(delta('one row'));
      });
      return [...(await storage.list({ prefix: '' })).keys()].filter((k) => k.includes('r6'));
    });
    expect(rows).toEqual(['chunk:r6:00000000']);
  });

  it('writes nothing once ended, and drops what it kept once the reply is stored', async () => {
    const left = await inRoomStorage(async (storage) => {
      const stream = new ReplyStream('r3', storage);
      stream.push(delta('one'));
      await stream.end();
      const afterEnd = (await ReplyStream.restore(storage, 'r3')).size;
      let kept: ReplyStream | undefined;
      await new Promise<void>((resolve) => {
        kept = new ReplyStream('r4', storage, resolve);
        kept.push(delta('two'));
      });
      await kept?.end();
      const beforeDrop = (await ReplyStream.restore(storage, 'r4')).size;
      await kept?.drop();
      const afterDrop =
        (await storage.list({ prefix: 'chunk:r4:' })).size + (await storage.list({ prefix: 'resume:' })).size;
      return { afterEnd, beforeDrop, afterDrop };
    });
    expect(left).toEqual({ afterEnd: 0, beforeDrop: 1, afterDrop: 0 });
  });

  it('assembles the message its chunks make, and the same one again until a chunk is added', async () => {
    const texts = await inRoomStorage(async (storage) => {
      const stream = new ReplyStream('r5', storage);
      stream.push({ type: 'start', messageId: 'r5' });
      stream.push({ type: 'text-start', id: 't' });
      stream.push(delta('Hello'));
      const first = stream.message();
      const same = first === stream.message();
      stream.push(delta(', world'));
      const text = (m: Awaited<ReturnType<ReplyStream['message']>>) =>
        (m?.parts[0] as { text?: string } | undefined)?.text;
      const result = { first: text(await first), same, later: text(await stream.message()) };
      await stream.end();
      return result;
    });
    expect(texts).toEqual({ first: 'Hello', same: true, later: 'Hello, world' });
  });
});
