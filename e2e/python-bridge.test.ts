import { readUIMessageStream, type UIMessageChunk } from 'ai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PythonBridge, startPythonBridge } from '../dev/python-bridge';
import type { Stack } from '../dev/stack';
import { type ApiClient, apiClient, type ChunkEvent } from './agent-support';
import { GENEROUS_LIMITS, startTestStack, uniqueUser } from './support';

/** The product against the Python reference bridge (bridges/python) over real HTTP. */
let bridge: PythonBridge;
let stack: Stack;
let api: ApiClient;

beforeAll(async () => {
  bridge = await startPythonBridge({ token: 'python-token' });
  stack = await startTestStack({ ...GENEROUS_LIMITS, AGENTCORE_URL: bridge.url, AGENTCORE_TOKEN: 'python-token' });
  api = await apiClient(stack, uniqueUser('python'));
});
afterAll(async () => {
  await stack?.stop();
  await bridge?.close();
});

const chunksOf = (events: ChunkEvent[]) =>
  events.flatMap((e) => (e.chunk === '[DONE]' ? [] : [e.chunk])) as UIMessageChunk[];

async function assemble(chunks: UIMessageChunk[]) {
  let last: { parts: unknown[] } | undefined;
  const stream = new ReadableStream<UIMessageChunk>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
  for await (const message of readUIMessageStream({ stream })) last = message;
  return last;
}

describe('the Python reference bridge as the AgentCore', () => {
  it('a reply with a tool call is stored with the parts the ai package assembles from the stream', async () => {
    const events = await api.sendStreaming('!dev calc=6*7');
    const start = events[0]?.chunk as { messageId: string; messageMetadata: { conversation_id: string } };
    const assembled = await assemble(chunksOf(events));
    const stored = (await api.messages(start.messageMetadata.conversation_id)).find((m) => m.id === start.messageId);
    expect(stored?.status).toBe('complete');
    expect(stored?.parts).toEqual(assembled?.parts);
    expect(stored?.parts).toContainEqual(
      expect.objectContaining({
        type: 'tool-calculator',
        state: 'output-available',
        input: { expression: '6*7' },
        output: { result: '42' },
      }),
    );
    expect(stored?.content).toBe('The result of 6*7 is 42.');
    expect(stored?.metadata).toMatchObject({ agent: 'python-stand-in' });
  });

  it('stop cancels the Python run and keeps the partial text as stopped', async () => {
    let key = '';
    let conversationId = '';
    let stopping: Promise<unknown> | undefined;
    let deltas = 0;
    await api.sendStreaming('!dev words=400 delay_ms=20', (event) => {
      if (event.chunk === '[DONE]') return;
      if (event.chunk.type === 'start') {
        key = event.chunk.messageId ?? '';
        conversationId = (event.chunk.messageMetadata as { conversation_id: string }).conversation_id;
      }
      if (event.chunk.type === 'text-delta' && ++deltas === 3) stopping = api.stop(conversationId);
    });
    expect(await stopping).toEqual({ stopped: true });
    expect(await bridge.runState(key, true)).toMatchObject({ state: 'cancelled' });
    const reply = (await api.messages(conversationId)).find((m) => m.id === key);
    expect(reply?.status).toBe('stopped');
    expect(reply?.content.split(' ').length).toBeLessThan(400);
  });

  it('a Python exception mid-reply ends the reply as error with its partial text', async () => {
    const { reply, conversation } = await api.send('!dev words=8 fail_after=3');
    expect(reply.status).toBe('error');
    expect(reply.content).toBe('the stand-in agentcore ');
    expect(reply.metadata.error).toEqual({
      code: 'agent_error',
      message: 'the stand-in AgentCore failed on purpose after 3 words',
    });
    expect((await api.send('!dev words=2', conversation.id)).reply.status).toBe('complete');
  });
});
