import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AiSdkRoute, startAiSdkRoute } from '../dev/ai-sdk-route';
import type { Stack } from '../dev/stack';
import type { Message } from '../worker/wire';
import { type ApiClient, apiClient, type ChunkEvent, partTypes } from './agent-support';
import { GENEROUS_LIMITS, startTestStack, uniqueUser } from './support';

/**
 * SPEC §6: an unchanged AI SDK route (streamText + toUIMessageStreamResponse, dev/ai-sdk-route.ts) is a valid
 * AgentCore. The whole product is pointed at it over real HTTP.
 */
let route: AiSdkRoute;
let stack: Stack;
let api: ApiClient;
const userId = uniqueUser('ai-sdk');

beforeAll(async () => {
  route = await startAiSdkRoute({ token: 'route-token' });
  stack = await startTestStack({ ...GENEROUS_LIMITS, AGENTCORE_URL: route.url, AGENTCORE_TOKEN: 'route-token' });
  api = await apiClient(stack, userId);
});
afterAll(async () => {
  await stack?.stop();
  await route?.close();
});

const chunkTypes = (events: ChunkEvent[]) => events.map((e) => (e.chunk === '[DONE]' ? '[DONE]' : e.chunk.type));

describe('an unchanged AI SDK route as the AgentCore', () => {
  it('answers with text that is stored complete', async () => {
    const { reply } = await api.send('hello there');
    expect(reply.status).toBe('complete');
    expect(reply.content).toBe('You said: hello there');
  });

  it('runs its server-side tool: the reply keeps the tool part with input and output, then the text', async () => {
    const { reply } = await api.send('weather Paris');
    expect(reply.status).toBe('complete');
    const toolPart = reply.parts.find((p) => p.type === 'tool-weather');
    expect(toolPart).toMatchObject({
      state: 'output-available',
      input: { city: 'Paris' },
      output: { city: 'Paris', forecast: 'sunny', celsius: 21 },
    });
    expect(partTypes(reply).indexOf('tool-weather')).toBeLessThan(partTypes(reply).indexOf('text'));
    expect(reply.content).toBe('The weather tool says {"city":"Paris","forecast":"sunny","celsius":21}.');
  });

  it('asks before its refund tool (needsApproval) and goes on natively in the same message once answered', async () => {
    const asked = await api.send('refund A-17');
    expect(asked.reply.status).toBe('complete');
    const approvalOf = (m: Message) => m.parts.find((p) => p.type === 'tool-refund') as Record<string, unknown>;
    expect(approvalOf(asked.reply)).toMatchObject({ state: 'approval-requested', input: { order: 'A-17' } });
    const id = (approvalOf(asked.reply).approval as { id: string }).id;
    const { reply } = await api.approve(asked.conversation.id, { approval_id: id, approved: true });
    expect(reply.id).toBe(asked.reply.id);
    expect(reply.status).toBe('complete');
    expect(approvalOf(reply)).toMatchObject({
      state: 'output-available',
      output: { order: 'A-17', refunded: true },
      approval: { id, approved: true },
    });
    expect(reply.content).toBe('The refund tool says {"order":"A-17","refunded":true}.');

    const again = await api.send('refund B-2', asked.conversation.id);
    const denied = await api.approve(again.conversation.id, {
      approval_id: (approvalOf(again.reply).approval as { id: string }).id,
      approved: false,
      reason: 'not this one',
    });
    expect(approvalOf(denied.reply)).toMatchObject({ state: 'output-denied', approval: { approved: false } });
    expect(denied.reply.content).toBe('The refund tool was denied: not this one.');
  });

  it('keeps its reasoning as a reasoning part before the text', async () => {
    const { reply } = await api.send('think hard');
    expect(reply.parts.filter((p) => p.type !== 'step-start')).toEqual([
      expect.objectContaining({ type: 'reasoning', text: 'Let me think about hard' }),
      expect.objectContaining({ type: 'text', text: 'I thought about hard.' }),
    ]);
  });

  it('streams under the product’s own start and finish, dropping the route’s', async () => {
    const events = await api.sendStreaming('hello again');
    const types = chunkTypes(events);
    expect(types.filter((t) => t === 'start')).toHaveLength(1);
    expect(types.filter((t) => t === 'finish')).toHaveLength(1);
    expect(types[0]).toBe('start');
    expect(types.slice(-2)).toEqual(['finish', '[DONE]']);
    const start = events[0]?.chunk as { messageId: string; messageMetadata: Record<string, string> };
    expect(start.messageMetadata).toEqual({ conversation_id: expect.any(String), user_message_id: expect.any(String) });
    expect(events[0]?.id).toBe(`${start.messageId}:0`);
  });

  it('stop aborts the route (its abortSignal fires) and keeps the partial text as stopped', async () => {
    const aborted = route.nextAbort();
    let conversationId = '';
    let stopping: Promise<unknown> | undefined;
    await api.sendStreaming('slow 400', (event) => {
      if (event.chunk === '[DONE]') return;
      if (event.chunk.type === 'start') {
        conversationId = (event.chunk.messageMetadata as { conversation_id: string }).conversation_id;
      }
      if (event.chunk.type === 'text-delta' && event.chunk.delta.startsWith('w2'))
        stopping ??= api.stop(conversationId);
    });
    expect(await stopping).toEqual({ stopped: true });
    await aborted;
    const reply = (await api.messages(conversationId)).find((m) => m.role === 'assistant');
    expect(reply?.status).toBe('stopped');
    expect(reply?.content.startsWith('w0 w1 w2')).toBe(true);
    expect(reply?.content.split(' ').length).toBeLessThan(400);
  });

  it('an error mid-stream ends the reply as error, keeping the text before it', async () => {
    const { reply, conversation } = await api.send('fail');
    expect(reply.status).toBe('error');
    expect(reply.content).toBe('Half an ');
    expect(reply.metadata.error).toEqual({ code: 'agent_error', message: 'An error occurred.' });
    expect((await api.send('hello after', conversation.id)).reply.status).toBe('complete');
  });

  it('is not resumable: a Worker killed mid-reply leaves the reply interrupted, with text the client had', async () => {
    let conversationId = '';
    let replyId = '';
    let received = '';
    let killing: Promise<void> | undefined;
    await api
      .sendStreaming('slow 400', (event) => {
        if (event.chunk === '[DONE]') return;
        if (event.chunk.type === 'start') {
          replyId = event.chunk.messageId ?? '';
          conversationId = (event.chunk.messageMetadata as { conversation_id: string }).conversation_id;
        }
        if (event.chunk.type === 'text-delta') received += event.chunk.delta;
        if (event.chunk.type === 'text-delta' && event.chunk.delta.startsWith('w20')) killing ??= stack.worker.kill();
      })
      .catch(() => undefined);
    await killing;
    await stack.worker.start();
    const reply = (await api.messages(conversationId)).find((m) => m.id === replyId);
    expect(reply?.status).toBe('error');
    expect(reply?.metadata.error).toMatchObject({ code: 'interrupted' });
    expect(received.startsWith(reply?.content ?? '-')).toBe(true);
  });

  it('a reply whose JSON caller went away still completes and is stored', async () => {
    const caller = new AbortController();
    const conversation = (await api.send('hello first')).conversation;
    const sent = fetch(`${stack.url}/api/v1/chat/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await stack.devToken(userId)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ conversation_id: conversation.id, content: 'slow 60' }),
      signal: caller.signal,
    }).catch(() => null);
    const started = async () => (await api.messages(conversation.id)).length === 4;
    while (!(await started())) await new Promise((r) => setTimeout(r, 50));
    caller.abort();
    expect(await sent).toBeNull();
    let reply = (await api.messages(conversation.id))[3];
    while (reply?.status === 'streaming') {
      await new Promise((r) => setTimeout(r, 50));
      reply = (await api.messages(conversation.id))[3];
    }
    expect(reply?.status).toBe('complete');
    expect(reply?.content.split(' ')).toHaveLength(60);
  });
});
