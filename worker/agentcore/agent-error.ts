export type AgentErrorCode = 'agent_http' | 'agent_error' | 'agent_cut' | 'agent_timeout' | 'agent_invalid_chunk';

/** Why a reply from the agent failed; the room stores `code` and `message` in the reply's metadata. */
export class AgentError extends Error {
  override name = 'AgentError';
  readonly code: AgentErrorCode;
  /** The agent's HTTP status, for `agent_http` answers. */
  readonly status: number | undefined;

  constructor(code: AgentErrorCode, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.code = code;
    this.status = options.status;
  }
}
