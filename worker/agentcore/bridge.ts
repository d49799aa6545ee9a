/** The AgentCore HTTP bridge (SPEC §6): one agent reply as validated UI message stream chunks. */
import type { UIMessage, UIMessageChunk } from 'ai';
import type { Config } from '../config';
import { log } from '../log';
import { AgentChunk } from '../wire';
import { AgentError } from './agent-error';
import { encodeMessage } from './history';
import { type ChatCompletionsTarget, streamChatCompletions } from './openai';
import { type Deadlines, streamEvents } from './upstream';

export { AgentError, type AgentErrorCode } from './agent-error';

export interface AgentTurn {
  conversationId: string;
  userId: string;
  /** The assistant message being produced; also the Idempotency-Key. */
  messageId: string;
  /**
   * The history, ending with the new user message (or, continuing after an approval, the assistant message), sent
   * as given: the room's AgentHistory holds it within SPEC §6's bounds (boundHistory), the one place they apply.
   */
  messages: UIMessage[];
  /**
   * A regenerate (SPEC §9): the reply being replaced, sent as `messageId` with `trigger: "regenerate-message"`, as
   * the AI SDK's own transport does, so an AI SDK or pydantic-ai agent handles it natively.
   */
  regenerates?: string | undefined;
  /**
   * A continuation after tool approvals (SPEC §9): the assistant message the history ends with, sent as `messageId`
   * with `trigger: "submit-message"`, as the AI SDK's own client does once every approval is answered.
   */
  continues?: string | undefined;
  /**
   * The Idempotency-Key when it is not the message id: a continuation's is `<message id>:<index of its start chunk>`,
   * a run of its own for an agent that keeps runs by key (SPEC §6), and the same again when it is resumed.
   */
  idempotencyKey?: string | undefined;
  /** The edge's request id, sent as X-Request-Id and named in the log; one is made when absent. */
  requestId?: string | undefined;
  /** The edge's W3C traceparent (worker/trace.ts), sent on as `traceparent`. */
  traceparent?: string | undefined;
  /** Resuming a reply after a restart: the agent's chunks already kept (sent as X-Resume-From). */
  resumeFrom?: number | undefined;
  /** Kept up to date while the reply streams, for the room to resume it after a restart. */
  progress?: AgentProgress | undefined;
}

/** What a room needs to ask the agent again for the rest of a reply (SPEC §6, replies survive restarts). */
export interface AgentProgress {
  /** The agent answered `X-Resumable: true`. */
  resumable: boolean;
  /** How many of the agent's chunks have been read: every chunk yielded so far came from among them. */
  agentChunks: number;
}

const PROBE_TIMEOUT_MS = 2_000;

/**
 * Yields the agent's chunks without its own `start`/`finish` (the room owns those). Metadata the agent puts on
 * its start or finish comes through as `message-metadata`. Ends with an AgentError on failure, or with the
 * signal's reason when aborted.
 */
export async function* streamAgent(
  config: Config,
  turn: AgentTurn,
  signal: AbortSignal,
): AsyncGenerator<UIMessageChunk, void, undefined> {
  const { messages } = turn;
  const requestId = turn.requestId || crypto.randomUUID();
  const chunks =
    config.AGENTCORE_PROTOCOL === 'openai'
      ? streamChatCompletions(openaiTarget(config), messages, signal)
      : streamUiMessages(config, { ...turn, messages, requestId }, signal);
  try {
    yield* chunks;
  } catch (err) {
    // One line per failed reply, naming what an operator searches by: the conversation and the request.
    if (err instanceof AgentError && !signal.aborted) {
      log('warn', 'agent reply failed', {
        conversation_id: turn.conversationId,
        message_id: turn.messageId,
        request_id: requestId,
        code: err.code,
        ...(err.status === undefined ? {} : { status: err.status }),
        message: err.message,
      });
    }
    throw err;
  }
}

async function* streamUiMessages(
  config: Config,
  turn: AgentTurn & { requestId: string },
  signal: AbortSignal,
): AsyncGenerator<UIMessageChunk, void, undefined> {
  const progress = turn.progress ?? { resumable: false, agentChunks: 0 };
  progress.agentChunks = turn.resumeFrom ?? 0;
  const request = {
    url: config.AGENTCORE_URL,
    headers: {
      accept: 'text/event-stream',
      'idempotency-key': turn.idempotencyKey ?? turn.messageId,
      'x-request-id': turn.requestId,
      ...(turn.traceparent ? { traceparent: turn.traceparent } : {}),
      ...(turn.resumeFrom ? { 'x-resume-from': String(turn.resumeFrom) } : {}),
      ...(config.AGENTCORE_TOKEN ? { authorization: `Bearer ${config.AGENTCORE_TOKEN}` } : {}),
    },
    body: turnBody(turn),
    maxBytes: config.AGENTCORE_MAX_REPLY_BYTES,
    onResponse: (headers: Headers) => {
      progress.resumable = headers.get('x-resumable') === 'true';
    },
  };
  const isFinish = (chunk: AgentChunk) => chunk.type === 'finish';
  for await (const chunk of streamEvents(request, AgentChunk, deadlines(config), signal, isFinish)) {
    progress.agentChunks++;
    switch (chunk.type) {
      case 'start':
        if (chunk.messageMetadata !== undefined) yield metadata(chunk.messageMetadata);
        break;
      case 'finish':
        if (chunk.messageMetadata !== undefined) yield metadata(chunk.messageMetadata);
        return;
      case 'error':
        throw new AgentError('agent_error', chunk.errorText || 'the agent failed');
      case 'abort':
        throw new AgentError('agent_cut', 'the agent abandoned the reply');
      default:
        yield chunk;
    }
  }
  throw new AgentError('agent_cut', 'the agent closed the stream before finishing the reply');
}

/**
 * The request body (SPEC §6): the AI SDK chat transport's own request (`id`, `messages`, `trigger`, and on a
 * regenerate `messageId`), so an unchanged AI SDK route or pydantic-ai's adapter reads it, plus our ids. Each history
 * message is serialized once (encodeMessage). The fields are those of
 * JSON.stringify({ id, messages, trigger, messageId?, conversation_id, user_id, message_id }).
 */
export function turnBody(turn: AgentTurn): string {
  const messages = turn.messages.map((m) => encodeMessage(m).json).join(',');
  const conversationId = JSON.stringify(turn.conversationId);
  const trigger = turn.regenerates
    ? `"trigger":"regenerate-message","messageId":${JSON.stringify(turn.regenerates)}`
    : turn.continues
      ? `"trigger":"submit-message","messageId":${JSON.stringify(turn.continues)}`
      : `"trigger":"submit-message"`;
  return `{"id":${conversationId},"messages":[${messages}],${trigger},"conversation_id":${conversationId},"user_id":${JSON.stringify(turn.userId)},"message_id":${JSON.stringify(turn.messageId)}}`;
}

/** Readiness: can the agent be reached at all? Any HTTP answer below 500 counts; a production agent may 404 it. */
export async function checkAgent(config: Config): Promise<boolean> {
  const openai = config.AGENTCORE_PROTOCOL === 'openai';
  const url = openai
    ? `${config.AGENTCORE_URL.replace(/\/+$/, '')}/models`
    : `${new URL(config.AGENTCORE_URL).origin}/healthz`;
  const headers: Record<string, string> =
    openai && config.AGENTCORE_TOKEN ? { authorization: `Bearer ${config.AGENTCORE_TOKEN}` } : {};
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    await res.body?.cancel();
    return res.status < 500;
  } catch {
    return false;
  }
}

function metadata(messageMetadata: unknown): UIMessageChunk {
  return { type: 'message-metadata', messageMetadata };
}

function deadlines(config: Config): Deadlines {
  return { firstChunkMs: config.AGENTCORE_FIRST_CHUNK_TIMEOUT_MS, idleMs: config.AGENTCORE_IDLE_TIMEOUT_MS };
}

function openaiTarget(config: Config): ChatCompletionsTarget {
  return {
    baseUrl: config.AGENTCORE_URL,
    token: config.AGENTCORE_TOKEN,
    model: config.AGENTCORE_MODEL,
    deadlines: deadlines(config),
    maxReplyBytes: config.AGENTCORE_MAX_REPLY_BYTES,
  };
}
