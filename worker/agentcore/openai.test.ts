import type { UIMessage } from 'ai';
import { describe, expect, it } from 'vitest';
import { CompletionTranslator, toChatMessages } from './openai';

describe('toChatMessages', () => {
  it('sends text as content and completed tool calls as tool_calls plus tool results, step by step', () => {
    const messages: UIMessage[] = [
      { id: 's', role: 'system', parts: [{ type: 'text', text: 'Be brief.' }] },
      {
        id: 'u1',
        role: 'user',
        parts: [
          { type: 'text', text: 'What is ' },
          { type: 'text', text: '6*7?' },
        ],
      },
      {
        id: 'a1',
        role: 'assistant',
        parts: [
          { type: 'step-start' },
          { type: 'text', text: 'Let me compute.' },
          {
            type: 'tool-calculator',
            toolCallId: 'c1',
            state: 'output-available',
            input: { expression: '6*7' },
            output: { result: '42' },
          },
          { type: 'tool-clock', toolCallId: 'c2', state: 'output-error', input: {}, errorText: 'no clock' },
          { type: 'tool-calculator', toolCallId: 'c3', state: 'input-available', input: { expression: '1' } },
          { type: 'step-start' },
          { type: 'reasoning', text: 'not sent', state: 'done' },
          { type: 'text', text: 'It is 42.' },
        ],
      },
      { id: 'u2', role: 'user', parts: [{ type: 'text', text: 'Thanks' }] },
    ];
    expect(toChatMessages(messages)).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'What is 6*7?' },
      {
        role: 'assistant',
        content: 'Let me compute.',
        tool_calls: [
          { id: 'c1', type: 'function', function: { name: 'calculator', arguments: '{"expression":"6*7"}' } },
          { id: 'c2', type: 'function', function: { name: 'clock', arguments: '{}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'c1', content: '{"result":"42"}' },
      { role: 'tool', tool_call_id: 'c2', content: 'Error: no clock' },
      { role: 'assistant', content: 'It is 42.' },
      { role: 'user', content: 'Thanks' },
    ]);
  });

  it('starts a new assistant message for text after a tool call even without step-start parts', () => {
    const messages: UIMessage[] = [
      {
        id: 'a',
        role: 'assistant',
        parts: [
          {
            type: 'dynamic-tool',
            toolName: 'lookup',
            toolCallId: 't',
            state: 'output-available',
            input: { q: 1 },
            output: 'x',
          },
          { type: 'text', text: 'Found x.' },
        ],
      },
    ];
    expect(toChatMessages(messages)).toEqual([
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 't', type: 'function', function: { name: 'lookup', arguments: '{"q":1}' } }],
      },
      { role: 'tool', tool_call_id: 't', content: '"x"' },
      { role: 'assistant', content: 'Found x.' },
    ]);
  });
});

describe('CompletionTranslator', () => {
  const choice = (delta: Record<string, unknown>, finish_reason: string | null = null) => ({
    choices: [{ delta, finish_reason }],
  });

  it('opens and closes reasoning and text blocks, assembles tool calls, and reports usage', () => {
    const t = new CompletionTranslator();
    const out = [
      ...t.push({ model: 'm-1', ...choice({ role: 'assistant', content: '' }) }),
      ...t.push(choice({ reasoning: 'hmm ' })),
      ...t.push(choice({ reasoning_content: 'ok' })),
      ...t.push(choice({ content: 'Hi' })),
      ...t.push(choice({ tool_calls: [{ index: 0, id: 'call_1', function: { name: 'calc', arguments: '{"a"' } }] })),
      ...t.push(choice({ tool_calls: [{ index: 0, function: { arguments: ':1}' } }] })),
      ...t.push(choice({ tool_calls: [{ index: 1, id: 'call_2', function: { name: 'bad', arguments: '{' } }] })),
      ...t.push(choice({}, 'tool_calls')),
      ...t.push({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 } }),
      ...t.end(),
    ];
    expect(t.finished).toBe(true);
    expect(out).toEqual([
      { type: 'reasoning-start', id: 'reasoning-1' },
      { type: 'reasoning-delta', id: 'reasoning-1', delta: 'hmm ' },
      { type: 'reasoning-delta', id: 'reasoning-1', delta: 'ok' },
      { type: 'reasoning-end', id: 'reasoning-1' },
      { type: 'text-start', id: 'text-2' },
      { type: 'text-delta', id: 'text-2', delta: 'Hi' },
      { type: 'text-end', id: 'text-2' },
      { type: 'tool-input-start', toolCallId: 'call_1', toolName: 'calc' },
      { type: 'tool-input-delta', toolCallId: 'call_1', inputTextDelta: '{"a"' },
      { type: 'tool-input-delta', toolCallId: 'call_1', inputTextDelta: ':1}' },
      { type: 'tool-input-start', toolCallId: 'call_2', toolName: 'bad' },
      { type: 'tool-input-delta', toolCallId: 'call_2', inputTextDelta: '{' },
      { type: 'tool-input-available', toolCallId: 'call_1', toolName: 'calc', input: { a: 1 } },
      {
        type: 'tool-input-error',
        toolCallId: 'call_2',
        toolName: 'bad',
        input: '{',
        errorText: 'the model sent tool arguments that are not JSON',
      },
      {
        type: 'message-metadata',
        messageMetadata: { model: 'm-1', usage: { inputTokens: 3, outputTokens: 5, totalTokens: 8 } },
      },
    ]);
  });

  it('turns an error object in the stream into an agent_error', () => {
    const t = new CompletionTranslator();
    expect(() => t.push({ error: { message: 'rate limit reached' } })).toThrow(
      expect.objectContaining({ code: 'agent_error', message: 'rate limit reached' }),
    );
  });
});
