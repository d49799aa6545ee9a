/** The one error type of the client: what failed, in terms a caller can branch on. */
import type { ErrorCode } from '../../../worker/wire';

/**
 * `ErrorCode` is what the API answered; the rest happen on this side:
 * `network` (the server could not be reached), `unexpected` (an answer the client does not understand),
 * `token_unavailable` (`getToken()` threw or returned no token).
 */
export type ChatErrorCode = ErrorCode | 'network' | 'unexpected' | 'token_unavailable';

export class ChatError extends Error {
  override name = 'ChatError';

  constructor(
    readonly code: ChatErrorCode,
    message: string,
    /** The HTTP status; 0 when there was no answer. */
    readonly status: number,
    /** Seconds to wait before trying again (Retry-After, or an error frame's retry_after); null when not said. */
    readonly retryAfter: number | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isChatError(error: unknown, code?: ChatErrorCode): error is ChatError {
  return error instanceof ChatError && (code === undefined || error.code === code);
}
