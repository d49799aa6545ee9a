import { AgentError } from '../agentcore/agent-error';
import { toApiError } from '../errors';

/** Why a reply failed, as its `metadata.error` keeps it and its `error` chunk and frames say it. */
export interface ReplyFailure {
  code: string;
  message: string;
}

/**
 * What a failed reply tells its readers. An agent's failure is described as the bridge classified it; anything
 * else is unexpected, and its raw message (a storage or driver error can name tables, paths or values) goes only to
 * the log, with `context` (the request id, the conversation), never to a user.
 */
export function describeFailure(err: unknown, context: Record<string, unknown>): ReplyFailure {
  if (err instanceof AgentError) return { code: err.code, message: err.message };
  const e = toApiError(err, { where: 'reply', ...context });
  return { code: e.code, message: e.code === 'internal' ? 'the reply failed' : e.message };
}
