import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseEvents } from './upstream';

/** A byte stream that hands the text out one byte per read, the worst split a network can make. */
function byteByByte(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < bytes.length) controller.enqueue(bytes.subarray(i, ++i));
      else controller.close();
    },
  });
}

async function drain<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream) out.push(item);
  return out;
}

const Chunk = z.object({ type: z.string(), delta: z.string().optional() });

describe('parseEvents', () => {
  it('reassembles events split into 1-byte reads, with CRLF, comments, multi-line data, other fields and [DONE]', async () => {
    const text = [
      ': a keep-alive comment\r\n',
      '\r\n',
      'data: {"type":"text-delta","delta":"héllo 👋"}\r\n\r\n',
      'event: message\nid: 7\n',
      // One JSON value spread over two data lines: they join with "\n", which JSON reads as white space.
      'data: {"type":"text-delta",\ndata: "delta":"two lines"}\n\n',
      'retry: 1000\n\n',
      'data:{"type":"no-space"}\r\r',
      'data: [DONE]\n\n',
    ].join('');
    const results = await drain(parseEvents(byteByByte(text), Chunk));
    expect(results.map((r) => (r.success ? r.value : 'invalid'))).toEqual([
      { type: 'text-delta', delta: 'héllo 👋' },
      { type: 'text-delta', delta: 'two lines' },
      { type: 'no-space' },
    ]);
  });

  it('reports JSON that is broken or off-schema instead of dropping it', async () => {
    const text = 'data: {"type":"ok"}\n\ndata: {not json\n\ndata: {"type":42}\n\n';
    const results = await drain(parseEvents(byteByByte(text), Chunk));
    expect(results.map((r) => r.success)).toEqual([true, false, false]);
  });

  it('does not emit an event cut off before its blank line', async () => {
    const results = await drain(parseEvents(byteByByte('data: {"type":"a"}\n\ndata: {"type":"b"}'), Chunk));
    expect(results.map((r) => r.success && r.value.type)).toEqual(['a']);
  });
});
