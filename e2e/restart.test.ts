import { readUIMessageStream, type UIMessageChunk } from 'ai';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { type PythonBridge, startPythonBridge } from '../dev/python-bridge';
import type { Stack } from '../dev/stack';
import { type ApiClient, apiClient, type ChunkEvent } from './agent-support';
import { GENEROUS_LIMITS, startTestStack, uniqueUser } from './support';

/**
 * Replies survive restarts (SPEC §6): workerd is SIGKILLed mid-reply and started again on the same storage. With a
 * resumable agent the room asks it again from where its kept chunks end, and the reply goes on under the same id:
 * a client that resumes from the last event it saw assembles exactly what is stored. (An agent that does not
 * resume: e2e/ai-sdk-route.test.ts.)
 */
let bridge: PythonBridge | undefined;
afterAll(async () => {
  await bridge?.close();
});

/** A stack of its own (its Worker gets killed), stopped when the test ends so no two run at once. */
async function stackForThisTest(vars: Record<string, string>): Promise<Stack> {
  const stack = await startTestStack(vars);
  onTestFinished(() => stack.stop());
  return stack;
}

async function assemble(events: ChunkEvent[]) {
  const stream = new ReadableStream<UIMessageChunk>({
    start(controller) {
      for (const e of events) if (e.chunk !== '[DONE]') controller.enqueue(e.chunk);
      controller.close();
    },
  });
  let last: { parts: unknown[] } | undefined;
  for await (const message of readUIMessageStream({ stream })) last = message;
  return last;
}

/** Streams `prompt`, kills the Worker after `killAfter` text deltas, restarts it, and resumes as a client would. */
async function replyAcrossRestart(stack: Stack, api: ApiClient, prompt: string, killAfter: number) {
  const before: ChunkEvent[] = [];
  let killing: Promise<void> | undefined;
  let deltas = 0;
  await api
    .sendStreaming(prompt, (event) => {
      before.push(event);
      if (event.chunk !== '[DONE]' && event.chunk.type === 'text-delta' && ++deltas === killAfter) {
        killing = stack.worker.kill();
      }
    })
    .catch(() => undefined);
  await killing;
  await stack.worker.start();
  const start = before[0]?.chunk as { messageId: string; messageMetadata: { conversation_id: string } };
  const conversationId = start.messageMetadata.conversation_id;
  const after = await api.resume(conversationId, before.at(-1)?.id ?? '');
  const events = [...before, ...after];
  const reply = (await api.messages(conversationId)).find((m) => m.id === start.messageId);
  return { events, reply, replyId: start.messageId, seenBeforeKill: before.length };
}

function expectNoGapNoDuplicate(events: ChunkEvent[], replyId: string) {
  const ids = events.filter((e) => e.chunk !== '[DONE]').map((e) => e.id);
  expect(ids).toEqual(ids.map((_, i) => `${replyId}:${i}`));
  expect(events.at(-1)?.chunk).toBe('[DONE]');
}

describe('a reply when workerd is killed mid-reply and restarted on the same storage', () => {
  it('goes on with the dev agent: complete, and equal to what a resuming client assembled', async () => {
    const stack = await stackForThisTest(GENEROUS_LIMITS);
    const api = await apiClient(stack, uniqueUser('restart-dev'));
    const { events, reply, replyId, seenBeforeKill } = await replyAcrossRestart(
      stack,
      api,
      '!dev words=120 delay_ms=30',
      25,
    );
    expectNoGapNoDuplicate(events, replyId);
    expect(events.length).toBeGreaterThan(seenBeforeKill + 1);
    expect(reply?.status).toBe('complete');
    expect(reply?.content.split(' ')).toHaveLength(120);
    expect(reply?.parts).toEqual((await assemble(events))?.parts);
  });

  it('goes on with the Python bridge (runs kept through the restart): complete and equal', async () => {
    bridge = await startPythonBridge({ token: 'restart-token', detachGraceS: 120 });
    const stack = await stackForThisTest({
      ...GENEROUS_LIMITS,
      AGENTCORE_URL: bridge.url,
      AGENTCORE_TOKEN: 'restart-token',
    });
    const api = await apiClient(stack, uniqueUser('restart-python'));
    const { events, reply, replyId } = await replyAcrossRestart(stack, api, '!dev words=300 delay_ms=40', 25);
    expectNoGapNoDuplicate(events, replyId);
    expect(reply?.status).toBe('complete');
    expect(reply?.content.split(' ')).toHaveLength(300);
    expect(reply?.parts).toEqual((await assemble(events))?.parts);
  });
});
