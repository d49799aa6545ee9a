import { env } from 'cloudflare:workers';
import type { UIMessage } from 'ai';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config';
import { ApiError } from '../errors';
import { assertFitsHistory, boundHistory, encodeMessage } from './history';

const bindings = env as unknown as Record<string, string>;
const withBound = (limit: number, maxBytes: number) =>
  loadConfig({
    ...bindings,
    AGENTCORE_HISTORY_LIMIT: String(limit),
    AGENTCORE_HISTORY_MAX_BYTES: String(maxBytes),
  });

function message(id: string, text: string, role: 'user' | 'assistant' = 'user'): UIMessage {
  return { id, role, parts: [{ type: 'text', text }] };
}

const bytesOf = (messages: UIMessage[]) =>
  messages.reduce((sum, m) => sum + new TextEncoder().encode(JSON.stringify(m)).byteLength, 0);

describe('boundHistory (SPEC §6: AGENTCORE_HISTORY_LIMIT messages and AGENTCORE_HISTORY_MAX_BYTES)', () => {
  const history = Array.from({ length: 8 }, (_, i) => message(`m${i}`, `message ${i} `.repeat(20)));
  const each = encodeMessage(history[0] as UIMessage).bytes;

  it('measures a message as the UTF-8 bytes of the JSON the bridge sends', () => {
    const emoji = message('e', '😀'.repeat(10));
    expect(encodeMessage(emoji).json).toBe(JSON.stringify(emoji));
    expect(encodeMessage(emoji).bytes).toBe(JSON.stringify(emoji).length + 10 * 2);
  });

  it('drops the oldest messages first until the rest fit in the byte bound', () => {
    const kept = boundHistory(history, withBound(50, each * 3 + each - 1));
    expect(kept.map((m) => m.id)).toEqual(['m5', 'm6', 'm7']);
    expect(bytesOf(kept)).toBeLessThanOrEqual(each * 4 - 1);
    expect(boundHistory(history, withBound(50, each * 3)).map((m) => m.id)).toEqual(['m5', 'm6', 'm7']);
  });

  it('applies the message limit and the byte bound together, whichever keeps fewer', () => {
    expect(boundHistory(history, withBound(2, 1_000_000)).map((m) => m.id)).toEqual(['m6', 'm7']);
    expect(boundHistory(history, withBound(50, 1_000_000))).toHaveLength(8);
  });

  it('keeps no older message behind one that did not fit, so the history has no hole', () => {
    const mixed = [message('small-old', 'a'), message('big', 'b'.repeat(1000)), message('new', 'c')];
    expect(boundHistory(mixed, withBound(50, 500)).map((m) => m.id)).toEqual(['new']);
  });

  it('always keeps the new user message, even alone over the bound', () => {
    expect(boundHistory(history, withBound(50, 10)).map((m) => m.id)).toEqual(['m7']);
  });
});

describe('assertFitsHistory', () => {
  const config = withBound(50, 200);
  const overhead = new TextEncoder().encode(
    JSON.stringify({ id: crypto.randomUUID(), role: 'user', parts: [{ type: 'text', text: '' }] }),
  ).byteLength;

  it('admits a message whose JSON is exactly the bound, as the room will send it', () => {
    expect(() => assertFitsHistory(config, 'x'.repeat(200 - overhead))).not.toThrow();
    // The same number of code points in 2-byte characters is over it: bytes are counted, not characters.
    expect(() => assertFitsHistory(config, 'é'.repeat(200 - overhead))).toThrow(ApiError);
  });

  it('refuses a message one byte over with 413 payload_too_large naming both sizes', () => {
    let error: unknown;
    try {
      assertFitsHistory(config, 'x'.repeat(201 - overhead));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(413);
    expect((error as ApiError).code).toBe('payload_too_large');
    expect((error as ApiError).message).toMatch(/201 bytes.*at most 200 bytes/);
  });
});
