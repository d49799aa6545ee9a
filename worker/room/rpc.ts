import { toApiError } from '../errors';
import type { ErrorCode, SendMessage } from '../wire';

/**
 * A send as the edge has checked it (`SendMessageBody`), addressed to this room's conversation; `create` when
 * there was no conversation_id (the conversation is made if it does not exist yet), and the edge's request id.
 */
export type SendInput = SendMessage & {
  conversation_id: string;
  create?: boolean;
  request_id?: string;
  traceparent?: string;
};

/** What crosses the RPC boundary: an ApiError loses its class there, so it travels as data. */
export type RoomResult<T> =
  | { ok: true; value: T }
  | { ok: false; error: { code: ErrorCode; message: string; retryAfter?: number | undefined } };

export async function guard<T>(fn: () => T | Promise<T>): Promise<RoomResult<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    const e = toApiError(err, { where: 'room' });
    return { ok: false, error: { code: e.code, message: e.message, retryAfter: e.retryAfter } };
  }
}
