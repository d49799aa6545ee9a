import { asSchema, uiMessageChunkSchema } from 'ai';
import { describe, expect, it } from 'vitest';
import {
  AgentChunk,
  ApprovalBody,
  ClientFrame,
  FeedbackBody,
  parseStorableJson,
  plainText,
  RegenerateBody,
  SendMessageBody,
  Title,
} from './wire';

const meta = { openai: { id: 'x', n: 1, nested: { ok: true, list: [1, 'a', null] } } };

/** Every chunk type, with its optional fields, and then the ways each can be wrong. */
const valid: unknown[] = [
  { type: 'text-start', id: 't' },
  { type: 'text-start', id: 't', providerMetadata: meta },
  { type: 'text-delta', id: 't', delta: 'héllo' },
  { type: 'text-end', id: 't', providerMetadata: meta },
  { type: 'error', errorText: 'boom' },
  { type: 'tool-input-start', toolCallId: 'c', toolName: 'calc', inputEncoding: 'json', dynamic: true, title: 'T' },
  { type: 'tool-input-delta', toolCallId: 'c', inputTextDelta: '{"a"' },
  { type: 'tool-input-available', toolCallId: 'c', toolName: 'calc', input: { a: 1 }, providerExecuted: false },
  { type: 'tool-input-available', toolCallId: 'c', toolName: 'calc', input: null, toolMetadata: { k: [1] } },
  { type: 'tool-input-error', toolCallId: 'c', toolName: 'calc', input: 'x', errorText: 'bad' },
  { type: 'tool-approval-request', approvalId: 'a', toolCallId: 'c', signature: 's' },
  { type: 'tool-output-available', toolCallId: 'c', output: 42, preliminary: true },
  { type: 'tool-output-error', toolCallId: 'c', errorText: 'bad' },
  { type: 'tool-output-denied', toolCallId: 'c' },
  { type: 'reasoning-start', id: 'r' },
  { type: 'reasoning-delta', id: 'r', delta: 'hmm' },
  { type: 'reasoning-end', id: 'r' },
  { type: 'source-url', sourceId: 's', url: 'https://example.com', title: 'Ex' },
  { type: 'source-document', sourceId: 's', mediaType: 'text/plain', title: 'Doc', filename: 'a.txt' },
  { type: 'file', url: 'https://example.com/a.png', mediaType: 'image/png' },
  { type: 'data-weather', id: 'w', data: { c: 21 }, transient: true },
  { type: 'data-', data: 1 },
  { type: 'start-step' },
  { type: 'finish-step' },
  { type: 'start' },
  { type: 'start', messageId: 'm', messageMetadata: { model: 'dev' } },
  { type: 'finish', finishReason: 'tool-calls', messageMetadata: { usage: 3 } },
  { type: 'abort', reason: 'user' },
  { type: 'message-metadata', messageMetadata: { a: 1 } },
  { type: 'text-delta', id: 't', delta: '', extra: 'loose objects keep unknown fields' },
];

const invalid: unknown[] = [
  null,
  'text',
  42,
  [],
  {},
  { type: 42 },
  { type: 'no-such-chunk' },
  { type: 'DATA-upper', data: 1 },
  { type: 'text-start' },
  { type: 'text-delta', id: 't' },
  { type: 'text-delta', id: 't', delta: 7 },
  { type: 'text-start', id: 't', providerMetadata: { openai: 'not a record' } },
  { type: 'text-start', id: 't', providerMetadata: { openai: { f: () => 1 } } },
  { type: 'error' },
  { type: 'tool-input-start', toolCallId: 'c' },
  { type: 'tool-input-start', toolCallId: 'c', toolName: 'calc', inputEncoding: 'xml' },
  { type: 'tool-input-delta', toolCallId: 'c' },
  { type: 'tool-input-available', toolName: 'calc', input: 1 },
  { type: 'tool-input-available', toolCallId: 'c', toolName: 'calc', input: 1, dynamic: 'yes' },
  { type: 'tool-input-error', toolCallId: 'c', toolName: 'calc', input: 1 },
  { type: 'tool-approval-request', toolCallId: 'c' },
  { type: 'tool-output-available', toolCallId: 1, output: 1 },
  { type: 'tool-output-error', toolCallId: 'c' },
  { type: 'tool-output-denied' },
  { type: 'reasoning-delta', id: 'r' },
  { type: 'source-url', sourceId: 's' },
  { type: 'source-document', sourceId: 's', mediaType: 'text/plain' },
  { type: 'file', url: 'u' },
  { type: 'data-x', transient: 'no' },
  { type: 'start', messageId: 5 },
  { type: 'finish', finishReason: 'done' },
  { type: 'abort', reason: 1 },
];

describe('AgentChunk', () => {
  const reference = asSchema(uiMessageChunkSchema);
  const referenceSays = async (value: unknown) => {
    const result = await reference.validate?.(value);
    if (!result) throw new Error('the ai schema has no validator');
    return result;
  };

  it.each(
    valid.map((v) => [JSON.stringify(v), v]),
  )('accepts %s with the same value as the ai package', async (_, value) => {
    const ours = AgentChunk.safeParse(value);
    const theirs = await referenceSays(value);
    expect(theirs.success).toBe(true);
    expect(ours.success).toBe(true);
    if (theirs.success && ours.success) expect(ours.data).toEqual(theirs.value);
  });

  it.each(
    invalid.map((v) => [JSON.stringify(v) ?? String(v), v]),
  )('refuses %s as the ai package does', async (_, value) => {
    expect((await referenceSays(value)).success).toBe(false);
    expect(AgentChunk.safeParse(value).success).toBe(false);
  });
});

describe('text the room must be able to hand to Postgres', () => {
  it('refuses NUL and unpaired surrogates in content, titles and client message ids, and keeps real pairs', () => {
    for (const bad of ['a\u0000b', 'x\ud800y', '\udfff', 'end\ud83d']) {
      expect(SendMessageBody.safeParse({ content: bad }).success).toBe(false);
      expect(SendMessageBody.safeParse({ content: 'ok', client_message_id: bad }).success).toBe(false);
      expect(Title.safeParse(bad).success).toBe(false);
      expect(ClientFrame.safeParse({ type: 'send', content: bad, client_message_id: 'c' }).success).toBe(false);
    }
    expect(SendMessageBody.safeParse({ content: 'smile 😀 ok', client_message_id: '😀' }).success).toBe(true);
    expect(Title.safeParse('日本語 😀').success).toBe(true);
  });
});

describe("the agent's chunks as the room keeps them", () => {
  it('turns NUL and unpaired surrogates into U+FFFD, in any string, and leaves everything else alone', () => {
    const raw = JSON.stringify({ type: 'text-delta', id: 't', delta: 'a\u0000b \ud800 c 😀', meta: { k: ['\udfff'] } });
    expect(parseStorableJson(raw)).toEqual({
      type: 'text-delta',
      id: 't',
      delta: 'a\ufffdb \ufffd c 😀',
      meta: { k: ['\ufffd'] },
    });
    const plain = JSON.stringify({ type: 'text-delta', id: 't', delta: 'smile \ud83d\ude00' });
    expect(parseStorableJson(plain)).toEqual(JSON.parse(plain));
  });
});

describe('branch, feedback and approval bodies (SPEC §9)', () => {
  it('takes a comment of up to 2,000 code points, counting an emoji as one', () => {
    expect(FeedbackBody.safeParse({ rating: 'up', comment: '😀'.repeat(2_000) }).success).toBe(true);
    expect(FeedbackBody.safeParse({ rating: 'up', comment: 'x'.repeat(2_001) }).success).toBe(false);
    expect(FeedbackBody.safeParse({ rating: 'meh' }).success).toBe(false);
  });

  it('remembers an approval only for the conversation, and refuses unknown fields', () => {
    const base = { approval_id: 'approval-1', approved: true };
    expect(ApprovalBody.safeParse({ ...base, remember: 'conversation' }).success).toBe(true);
    expect(ApprovalBody.safeParse({ ...base, remember: 'forever' }).success).toBe(false);
    expect(ApprovalBody.safeParse({ ...base, extra: 1 }).success).toBe(false);
    expect(RegenerateBody.safeParse({ message_id: 'not-a-uuid' }).success).toBe(false);
  });
});

describe('plainText (a message’s content, on the server and in the client alike)', () => {
  it('is the text parts in order, as paragraphs, leaving every other part out', () => {
    const parts = [
      { type: 'step-start' },
      { type: 'text', text: 'Let me check.' },
      { type: 'tool-calc', toolCallId: 'c1', state: 'output-available', input: {}, output: 4 },
      { type: 'reasoning', text: 'not shown as content' },
      { type: 'text', text: 'It is 4.' },
    ];
    expect(plainText(parts)).toBe('Let me check.\n\nIt is 4.');
    expect(plainText([])).toBe('');
  });
});
