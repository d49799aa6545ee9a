import { ApiError, errorResponse, toApiError } from '../errors';
import type { Approval, ErrorCode, Regenerate, SendMessage } from '../wire';
import type { TurnAsk } from './branches';

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

/** A regenerate (SPEC §9) as the edge has checked it (`RegenerateBody`). */
export type RegenerateInput = Regenerate & { conversation_id: string; request_id?: string; traceparent?: string };

/** A person's answer to a tool approval (SPEC §9) as the edge has checked it (`ApprovalBody`). */
export type ApprovalInput = Approval & { request_id?: string; traceparent?: string };

/** Any turn as the room takes it: a send, an edit or a regenerate (`ask`), with what every turn carries. */
export interface TurnInput {
  conversation_id: string;
  create?: boolean | undefined;
  client_message_id?: string | undefined;
  request_id?: string | undefined;
  traceparent?: string | undefined;
  ask: TurnAsk;
}

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

/** For what answers with a Response (streams, the upgrade): an error becomes its response in the envelope. */
export async function answer(
  fn: () => Response | Promise<Response>,
  context?: Record<string, unknown>,
): Promise<Response> {
  try {
    return await fn();
  } catch (err) {
    return errorResponse(err, context);
  }
}

/** Not this user's conversation, or none: the same answer (SPEC §3), so ids cannot be probed. */
export const notFound = () => new ApiError('not_found', 'conversation not found');
