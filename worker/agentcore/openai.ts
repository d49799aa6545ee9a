/**
 * AGENTCORE_PROTOCOL=openai: an OpenAI-compatible chat completions API (OpenAI, Ollama, vLLM, llama.cpp server)
 * spoken in streamed mode and translated into UI message stream chunks.
 */
import { getToolOrDynamicToolName, isToolOrDynamicToolUIPart, type UIMessage, type UIMessageChunk } from 'ai';
import { z } from 'zod';
import { AgentError } from './agent-error';
import { type Deadlines, streamEvents } from './upstream';

export interface ChatCompletionsTarget {
  /** e.g. https://api.openai.com/v1 — `/chat/completions` is appended. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer` when not empty. */
  token: string;
  model: string;
  deadlines: Deadlines;
  /** The model's answer may be this many bytes (AGENTCORE_MAX_REPLY_BYTES); unset: unbounded. */
  maxReplyBytes?: number;
}

interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export type ChatMessage =
  | { role: 'system' | 'user'; content: string }
  | { role: 'assistant'; content: string | null; tool_calls?: ToolCall[] }
  | { role: 'tool'; tool_call_id: string; content: string };

const ToolCallDelta = z.object({
  index: z.number().int().nullish(),
  id: z.string().nullish(),
  function: z.object({ name: z.string().nullish(), arguments: z.string().nullish() }).nullish(),
});

const CompletionChunk = z.looseObject({
  model: z.string().nullish(),
  choices: z
    .array(
      z.looseObject({
        delta: z
          .looseObject({
            content: z.string().nullish(),
            reasoning_content: z.string().nullish(),
            reasoning: z.string().nullish(),
            tool_calls: z.array(ToolCallDelta).nullish(),
          })
          .nullish(),
        finish_reason: z.string().nullish(),
      }),
    )
    .nullish(),
  usage: z
    .looseObject({
      prompt_tokens: z.number().nullish(),
      completion_tokens: z.number().nullish(),
      total_tokens: z.number().nullish(),
      completion_tokens_details: z.looseObject({ reasoning_tokens: z.number().nullish() }).nullish(),
    })
    .nullish(),
  error: z.unknown().optional(),
});
type CompletionChunk = z.infer<typeof CompletionChunk>;

export function chatCompletionsUrl(baseUrl: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/chat/completions`;
}

/** Streams one completion of `messages` as UI chunks (no start/finish: the caller owns those). */
export async function* streamChatCompletions(
  target: ChatCompletionsTarget,
  messages: UIMessage[],
  signal: AbortSignal,
): AsyncGenerator<UIMessageChunk, void, undefined> {
  const request = {
    url: chatCompletionsUrl(target.baseUrl),
    headers: {
      accept: 'text/event-stream',
      ...(target.token ? { authorization: `Bearer ${target.token}` } : {}),
    },
    body: JSON.stringify({
      model: target.model,
      stream: true,
      stream_options: { include_usage: true },
      messages: toChatMessages(messages),
    }),
    maxBytes: target.maxReplyBytes,
  };
  const translator = new CompletionTranslator();
  for await (const chunk of streamEvents(request, CompletionChunk, target.deadlines, signal)) {
    yield* translator.push(chunk);
  }
  if (!translator.finished) throw new AgentError('agent_cut', 'the model stream ended before it finished');
  yield* translator.end();
}

/** UIMessages → chat messages: text as content, completed tool calls as assistant tool_calls plus tool results. */
export function toChatMessages(messages: UIMessage[]): ChatMessage[] {
  const out: ChatMessage[] = [];
  for (const message of messages) {
    if (message.role === 'assistant') out.push(...assistantTurns(message.parts));
    else out.push({ role: message.role, content: textOf(message.parts) });
  }
  return out;
}

function textOf(parts: UIMessage['parts']): string {
  return parts.map((p) => (p.type === 'text' ? p.text : '')).join('');
}

/** One assistant UIMessage may hold several steps (text, tool calls, their results, more text). */
function assistantTurns(parts: UIMessage['parts']): ChatMessage[] {
  const out: ChatMessage[] = [];
  let text = '';
  let calls: ToolCall[] = [];
  let results: ChatMessage[] = [];
  const flush = () => {
    if (text || calls.length) {
      out.push({ role: 'assistant', content: text || null, ...(calls.length ? { tool_calls: calls } : {}) });
    }
    out.push(...results);
    text = '';
    calls = [];
    results = [];
  };
  for (const part of parts) {
    if (part.type === 'step-start') flush();
    else if (part.type === 'text') {
      // Text after a tool call answers its result, so it belongs to the next assistant message.
      if (calls.length) flush();
      text += part.text;
    } else if (isToolOrDynamicToolUIPart(part)) {
      const result =
        part.state === 'output-available'
          ? JSON.stringify(part.output ?? null)
          : part.state === 'output-error'
            ? `Error: ${part.errorText}`
            : undefined;
      // A call without a result cannot be sent: the API requires every tool call to be answered.
      if (result === undefined) continue;
      const name = getToolOrDynamicToolName(part);
      calls.push({
        id: part.toolCallId,
        type: 'function',
        function: { name, arguments: JSON.stringify(part.input ?? {}) },
      });
      results.push({ role: 'tool', tool_call_id: part.toolCallId, content: result });
    }
  }
  flush();
  return out;
}

interface PendingCall {
  id: string;
  name: string;
  args: string;
}

/** Turns completion deltas into text/reasoning blocks and tool-input chunks. */
export class CompletionTranslator {
  finished = false;
  private open: { kind: 'text' | 'reasoning'; id: string } | null = null;
  private blocks = 0;
  private calls = new Map<number, PendingCall>();
  private model: string | undefined;
  private usage: Record<string, number> | undefined;

  push(chunk: CompletionChunk): UIMessageChunk[] {
    if (chunk.error !== undefined) throw new AgentError('agent_error', errorText(chunk.error));
    if (chunk.model) this.model = chunk.model;
    if (chunk.usage) this.usage = usageOf(chunk.usage);
    const choice = chunk.choices?.[0];
    if (!choice) return [];
    const out: UIMessageChunk[] = [];
    const delta = choice.delta;
    const reasoning = delta?.reasoning_content ?? delta?.reasoning;
    if (reasoning) this.write('reasoning', reasoning, out);
    if (delta?.content) this.write('text', delta.content, out);
    for (const call of delta?.tool_calls ?? []) this.toolDelta(call, out);
    if (choice.finish_reason) {
      this.close(out);
      this.flushCalls(out);
      this.finished = true;
    }
    return out;
  }

  /** After the stream: the model and token usage as message metadata. */
  end(): UIMessageChunk[] {
    const out: UIMessageChunk[] = [];
    this.close(out);
    this.flushCalls(out);
    if (this.model || this.usage) {
      out.push({
        type: 'message-metadata',
        messageMetadata: { ...(this.model ? { model: this.model } : {}), ...(this.usage ? { usage: this.usage } : {}) },
      });
    }
    return out;
  }

  private write(kind: 'text' | 'reasoning', delta: string, out: UIMessageChunk[]) {
    if (this.open?.kind !== kind) {
      this.close(out);
      this.open = { kind, id: `${kind}-${++this.blocks}` };
      out.push({ type: `${kind}-start`, id: this.open.id });
    }
    out.push({ type: `${kind}-delta`, id: this.open.id, delta });
  }

  private close(out: UIMessageChunk[]) {
    if (!this.open) return;
    out.push({ type: `${this.open.kind}-end`, id: this.open.id });
    this.open = null;
  }

  private toolDelta(delta: z.infer<typeof ToolCallDelta>, out: UIMessageChunk[]) {
    this.close(out);
    const index = delta.index ?? this.calls.size;
    let call = this.calls.get(index);
    if (!call) {
      call = { id: delta.id || `call-${index + 1}`, name: delta.function?.name ?? '', args: '' };
      this.calls.set(index, call);
      out.push({ type: 'tool-input-start', toolCallId: call.id, toolName: call.name });
    }
    const args = delta.function?.arguments;
    if (args) {
      call.args += args;
      out.push({ type: 'tool-input-delta', toolCallId: call.id, inputTextDelta: args });
    }
  }

  private flushCalls(out: UIMessageChunk[]) {
    for (const call of this.calls.values()) {
      const input = parseArguments(call.args);
      if (input.ok) {
        out.push({ type: 'tool-input-available', toolCallId: call.id, toolName: call.name, input: input.value });
      } else {
        out.push({
          type: 'tool-input-error',
          toolCallId: call.id,
          toolName: call.name,
          input: call.args,
          errorText: 'the model sent tool arguments that are not JSON',
        });
      }
    }
    this.calls.clear();
  }
}

function parseArguments(args: string): { ok: true; value: unknown } | { ok: false } {
  if (!args.trim()) return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(args) };
  } catch {
    return { ok: false };
  }
}

function usageOf(usage: NonNullable<CompletionChunk['usage']>): Record<string, number> {
  const out: Record<string, number> = {};
  if (usage.prompt_tokens != null) out.inputTokens = usage.prompt_tokens;
  if (usage.completion_tokens != null) out.outputTokens = usage.completion_tokens;
  if (usage.total_tokens != null) out.totalTokens = usage.total_tokens;
  const reasoning = usage.completion_tokens_details?.reasoning_tokens;
  if (reasoning != null) out.reasoningTokens = reasoning;
  return out;
}

function errorText(error: unknown): string {
  if (typeof error === 'string') return error;
  if (typeof error === 'object' && error !== null && 'message' in error && typeof error.message === 'string') {
    return error.message;
  }
  return 'the model failed';
}
