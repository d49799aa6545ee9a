import type { ErrorCode, ServerFrame } from './wire';

const STATUS: Record<ErrorCode, number> = {
  invalid_request: 400,
  invalid_frame: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  reply_in_progress: 409,
  idempotency_mismatch: 409,
  payload_too_large: 413,
  rate_limited: 429,
  too_many_connections: 429,
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

/** Anything thrown that is not an ApiError becomes a 500 with no detail leaked. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  return new ApiError('internal', 'internal error', { cause: err });
}
