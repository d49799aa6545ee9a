import { ConfigError } from './config';
import { DatabaseUnavailable } from './db/errors';
import { log } from './log';
import type { ErrorCode, ServerFrame } from './wire';

const STATUS: Record<ErrorCode, number> = {
  invalid_request: 400,
  invalid_frame: 400,
  unauthorized: 401,
  token_expired: 401,
  forbidden: 403,
  not_found: 404,
  reply_in_progress: 409,
  idempotency_mismatch: 409,
  already_answered: 409,
  payload_too_large: 413,
  rate_limited: 429,
  too_many_connections: 429,
  method_not_allowed: 405,
  unavailable: 503,
  internal: 500,
};

/** The one error type of the API; `toResponse` and `toFrame` are the only places it is rendered. */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Whole seconds, for 429s. */
  readonly retryAfter: number | undefined;

  constructor(code: ErrorCode, message: string, options: { retryAfter?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'ApiError';
    this.code = code;
    this.status = STATUS[code];
    this.retryAfter = options.retryAfter;
  }

  toResponse(headers: HeadersInit = {}): Response {
    const h = new Headers(headers);
    h.set('content-type', 'application/json; charset=utf-8');
    if (this.retryAfter !== undefined) h.set('retry-after', String(this.retryAfter));
    return new Response(JSON.stringify({ error: { code: this.code, message: this.message } }), {
      status: this.status,
      headers: h,
    });
  }

  toFrame(clientMessageId?: string): Extract<ServerFrame, { type: 'error' }> {
    return {
      type: 'error',
      code: this.code,
      message: this.message,
      ...(clientMessageId === undefined ? {} : { client_message_id: clientMessageId }),
      ...(this.retryAfter === undefined ? {} : { retry_after: this.retryAfter }),
    };
  }
}

/**
 * The one place an error becomes what a caller sees (a response, a frame, a room's result). An ApiError is
 * answered as it is; a known failure of a part this service relies on is `unavailable`; anything else is
 * `internal`. The raw message of an unexpected error never reaches a caller: it is logged here, once, with what
 * `context` names (the request id).
 */
export function toApiError(err: unknown, context: Record<string, unknown> = {}): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof ConfigError) {
    // Which setting is wrong is for the operator's log, not for every caller.
    log('error', err.message, context);
    return new ApiError('unavailable', 'the service is not configured correctly', { cause: err });
  }
  if (err instanceof DatabaseUnavailable) {
    log('warn', err.message, { ...context, error: String(err.cause) });
    return new ApiError('unavailable', err.message, { cause: err });
  }
  log('error', 'unexpected error', { ...context, error: String(err), stack: (err as Error | null)?.stack });
  return new ApiError('internal', 'internal error', { cause: err });
}

/** An error as the JSON envelope (see toApiError). */
export function errorResponse(err: unknown, context: Record<string, unknown> = {}): Response {
  return toApiError(err, context).toResponse();
}
