/**
 * The one home of validation: JSON bodies, query strings and WebSocket frames are read here, checked against the
 * schemas of `wire.ts`, and every zod issue becomes a message in one way. What is wrong is an ApiError.
 */
import type { Context } from 'hono';
import type { z } from 'zod';
import { ApiError } from './errors';
import { ClientFrame, codePointLength, MAX_BODY_BYTES, MAX_CONTENT_CODE_POINTS } from './wire';

/** Reads a JSON body: application/json only, at most 256 KiB (counted as it arrives), then the schema. */
export async function jsonBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new ApiError('invalid_request', 'the body must be application/json');
  }
  const declared = Number(c.req.header('content-length') ?? '0');
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  const bytes = await readBounded(c.req.raw.body, MAX_BODY_BYTES);
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch {
    throw new ApiError('invalid_request', 'the body is not valid JSON');
  }
  return parse(schema, raw, 'body');
}

/**
 * A body read up to `limit` bytes: one chunk more and it is refused (413) and the rest is never read, so a slow
 * chunked body without a Content-Length cannot hold the request until it ends.
 */
export async function readBounded(body: ReadableStream<Uint8Array> | null, limit: number): Promise<Uint8Array> {
  if (!body) return new Uint8Array();
  const reader = body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    parts.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

/**
 * Validates a value; a content over the limit is payload_too_large, anything else wrong `code` (invalid_request for
 * REST, invalid_frame for frames) naming the field.
 */
export function parse<S extends z.ZodType>(
  schema: S,
  raw: unknown,
  where: string,
  code: 'invalid_request' | 'invalid_frame' = 'invalid_request',
): z.output<S> {
  const content = (raw as { content?: unknown } | null)?.content;
  if (typeof content === 'string' && codePointLength(content) > MAX_CONTENT_CODE_POINTS) {
    throw new ApiError('payload_too_large', `content is longer than ${MAX_CONTENT_CODE_POINTS} characters`);
  }
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  throw new ApiError(code, describeIssues(result.error, where));
}

/** The one way a zod failure is told: the first issue, with the field it is about (`body.title: …`). */
export function describeIssues(error: z.ZodError, where: string): string {
  const issue = error.issues[0];
  const path = issue?.path.length ? issue.path.join('.') : where;
  const detail =
    issue?.code === 'unrecognized_keys' ? `unknown field(s): ${issue.keys.join(', ')}` : (issue?.message ?? 'invalid');
  return `${where === path ? where : `${where}.${path}`}: ${detail}`;
}

export function query<S extends z.ZodType>(c: Context, schema: S): z.output<S> {
  return parse(schema, c.req.query(), 'query');
}

/** A WebSocket text frame from a client, or the error frame's ApiError (the socket stays open either way). */
export function parseFrame(data: string): ClientFrame {
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch {
    throw new ApiError('invalid_frame', 'frame is not JSON');
  }
  return parse(ClientFrame, raw, 'frame', 'invalid_frame');
}

const tooLarge = () => new ApiError('payload_too_large', `the body is larger than ${MAX_BODY_BYTES} bytes`);

/** A stable conversation id for (user, client_message_id), so a retried first send lands in one conversation. */
export async function derivedConversationId(userId: string, clientMessageId: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest(
      'SHA-256',
      new TextEncoder().encode(`agent-chat:conversation\n${userId}\n${clientMessageId}`),
    ),
  );
  const b = digest.slice(0, 16);
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x80; // version 8: a name-based UUID of our own
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
