/** Keyset cursors as the API gives them out: a tuple's JSON in base64url, checked with zod when it comes back. */
import { base64url } from 'jose';
import type { z } from 'zod';
import { ApiError } from '../errors';

export function encodeCursor(fields: readonly unknown[]): string {
  return base64url.encode(JSON.stringify(fields));
}

/** Anything but a cursor this API gave out is the caller's mistake (400), never a query Postgres refuses (503). */
export function decodeCursor<T>(raw: string, fields: z.ZodType<T>): T {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(base64url.decode(raw)));
  } catch {
    json = undefined;
  }
  const parsed = fields.safeParse(json);
  if (!parsed.success) throw new ApiError('invalid_request', 'query.cursor: not a cursor this API gave out');
  return parsed.data;
}
