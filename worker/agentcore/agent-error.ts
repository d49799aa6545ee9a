/**
 * Why a reply from the agent failed, stored as the reply's `metadata.error.code`:
 *   agent_unreachable   no connection could be made
 *   agent_unauthorized  the agent refused our token (401/403): AGENTCORE_TOKEN is wrong
 *   agent_http          any other non-2xx answer (the status is kept)
 *   agent_bad_stream    not a UI message stream: another content type, an event that is not JSON, a chunk that
 *                       breaks the protocol's schema (an unknown type included)
 *   agent_timeout       nothing within the first-chunk timeout, or silence longer than the idle timeout
 *   agent_cut           the stream ended or the connection dropped before the agent finished
 *   agent_error         the agent itself reported an error (an `error` chunk)
 *   reply_too_large     the agent's answer grew past AGENTCORE_MAX_REPLY_BYTES; the text before the bound is kept
 */
export type AgentErrorCode =
  | 'agent_unreachable'
  | 'agent_unauthorized'
  | 'agent_http'
  | 'agent_bad_stream'
  | 'agent_timeout'
  | 'agent_cut'
  | 'agent_error'
  | 'reply_too_large';

/** Why a reply from the agent failed; the room stores `code` and `message` in the reply's metadata. */
export class AgentError extends Error {
  override name = 'AgentError';
  readonly code: AgentErrorCode;
  /** The agent's HTTP status, for answers that were not a stream. */
  readonly status: number | undefined;

  constructor(code: AgentErrorCode, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.code = code;
    this.status = options.status;
  }
}
