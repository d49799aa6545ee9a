import type { Context } from 'hono';
import type { z } from 'zod';
import { ApiError } from './errors';
import { codePointLength, MAX_BODY_BYTES, MAX_CONTENT_CODE_POINTS } from './wire';

/** Reads a JSON body: application/json only, at most 256 KiB, then the schema. */
export async function jsonBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new ApiError('invalid_request', 'the body must be application/json');
  }
  const declared = Number(c.req.header('content-length') ?? '0');
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  const buffer = await c.req.arrayBuffer();
  if (buffer.byteLength > MAX_BODY_BYTES) throw tooLarge();
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(buffer));
  } catch {
    throw new ApiError('invalid_request', 'the body is not valid JSON');
  }
  return parse(schema, raw, 'body');
}

/** Validates a value; a content over the limit is a 413, anything else wrong a 400 naming the field. */
export function parse<S extends z.ZodType>(schema: S, raw: unknown, where: string): z.output<S> {
  const content = (raw as { content?: unknown } | null)?.content;
  if (typeof content === 'string' && codePointLength(content) > MAX_CONTENT_CODE_POINTS) {
    throw new ApiError('payload_too_large', `content is longer than ${MAX_CONTENT_CODE_POINTS} characters`);
  }
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue?.path.length ? issue.path.join('.') : where;
  const detail =
    issue?.code === 'unrecognized_keys' ? `unknown field(s): ${issue.keys.join(', ')}` : (issue?.message ?? 'invalid');
  throw new ApiError('invalid_request', `${where === path ? where : `${where}.${path}`}: ${detail}`);
}

export function query<S extends z.ZodType>(c: Context, schema: S): z.output<S> {
  return parse(schema, c.req.query(), 'query');
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
