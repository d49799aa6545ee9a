import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { ApiError } from './errors';
import { parse, parseFrame } from './http';
import { ORIGIN, tokenFor, uniqueUser } from './test-support';
import { API_BASE, ErrorEnvelope, MAX_BODY_BYTES, SendMessageBody } from './wire';

function thrown(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected an ApiError');
}

describe('bodies', () => {
  it('refuses a chunked body with 413 once 256 KiB have arrived, without waiting for its end', async () => {
    let pulls = 0;
    // 64 KiB a pull, for ever: only a read that stops at the bound can answer at all.
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulls++;
        controller.enqueue(new Uint8Array(64 * 1024).fill(0x20));
      },
    });
    const res = await exports.default.fetch(
      new Request(`${ORIGIN}${API_BASE}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await tokenFor(uniqueUser())}`, 'content-type': 'application/json' },
        body,
        // @ts-expect-error: workerd and undici need it for a stream body
        duplex: 'half',
      }),
    );
    expect(res.status).toBe(413);
    expect(ErrorEnvelope.parse(await res.json()).error.code).toBe('payload_too_large');
    expect(pulls * 64 * 1024).toBeLessThan(MAX_BODY_BYTES + 3 * 64 * 1024);
  });
});

describe('one parser for bodies and frames', () => {
  it('names the field of the first issue, under where it was found', () => {
    const e = thrown(() => parse(SendMessageBody, { content: 'hi', extra: 1 }, 'body'));
    expect([e.code, e.message]).toEqual(['invalid_request', 'body: unknown field(s): extra']);
    const f = thrown(() => parse(SendMessageBody, { content: 7 }, 'body'));
    expect(f.message).toMatch(/^body\.content: /);
  });

  it('tells a frame’s problems with invalid_frame, and a too long content with payload_too_large', () => {
    expect(thrown(() => parseFrame('{')).code).toBe('invalid_frame');
    expect(thrown(() => parseFrame('{"type":"dance"}')).code).toBe('invalid_frame');
    const long = JSON.stringify({ type: 'send', content: 'x'.repeat(32_001), client_message_id: 'a' });
    expect(thrown(() => parseFrame(long)).code).toBe('payload_too_large');
    expect(parseFrame('{"type":"ping"}')).toEqual({ type: 'ping' });
  });
});
