/**
 * An unchanged AI SDK chat route (the one the AI SDK docs show) served by a plain Node server, with a scripted
 * mock language model in place of a provider. It proves that the bridge request (SPEC §6) is a valid AI SDK chat
 * request: nothing here knows about agent-chat.
 *
 * The mock model reads the last user message:
 *   weather <city>   calls the server-side `weather` tool, then answers with its result
 *   refund <order>   calls the `refund` tool, which needs a person's approval; answers once it has run or was denied
 *   think <text>     reasons first (reasoning chunks), then answers
 *   fail             two words, then the model errors mid-stream
 *   slow <n>         n words, 50 ms apart (for stop: the route sees the abort)
 *   anything else    "You said: <text>", word by word
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { convertToModelMessages, stepCountIs, streamText, tool, type UIMessage } from 'ai';
import { MockLanguageModelV3 } from 'ai/test';
import { z } from 'zod';

type StreamResult = Awaited<ReturnType<MockLanguageModelV3['doStream']>>;
type StreamPart = StreamResult['stream'] extends ReadableStream<infer P> ? P : never;
type CallOptions = Parameters<MockLanguageModelV3['doStream']>[0];

export interface AiSdkRoute {
  url: string;
  /** How many requests the route has seen abort (streamText's onAbort). */
  readonly aborts: number;
  /** Resolves at the next abort the route sees. */
  nextAbort(): Promise<void>;
  close(): Promise<void>;
}

export interface AiSdkRouteOptions {
  port?: number;
  /** Require `Authorization: Bearer <token>` (a line in front of the route, as a deployment would add). */
  token?: string;
}

const model = new MockLanguageModelV3({ modelId: 'mock-model', doStream: async (options) => script(options) });

const weather = tool({
  description: 'The weather in a city',
  inputSchema: z.object({ city: z.string() }),
  execute: async ({ city }) => ({ city, forecast: 'sunny', celsius: 21 }),
});

/** A tool that asks a person first (SPEC §9): the route streams tool-approval-request and ends its turn. */
const refund = tool({
  description: 'Refund an order',
  inputSchema: z.object({ order: z.string() }),
  needsApproval: true,
  execute: async ({ order }) => ({ order, refunded: true }),
});

/** Told of every request whose stream the client abandoned (streamText's onAbort). */
const abortListeners = new Set<() => void>();
const noteAbort = () => {
  for (const listener of abortListeners) listener();
};

// #region route (docs/agentcore.md shows this region; dev/agentcore-docs.test.ts keeps the two the same)
export async function POST(req: Request) {
  const { messages }: { messages: UIMessage[] } = await req.json();
  const result = streamText({
    model,
    messages: await convertToModelMessages(messages),
    tools: { weather, refund },
    stopWhen: stepCountIs(5),
    abortSignal: req.signal,
    onAbort: noteAbort,
  });
  return result.toUIMessageStreamResponse({ sendReasoning: true });
}
// #endregion

export async function startAiSdkRoute(opts: AiSdkRouteOptions = {}): Promise<AiSdkRoute> {
  let aborts = 0;
  let waiters: Array<() => void> = [];
  const onAbort = () => {
    aborts++;
    for (const resolve of waiters.splice(0)) resolve();
  };
  abortListeners.add(onAbort);
  const server = createServer({ noDelay: true }, (req, res) => {
    serve(req, res, opts.token).catch(() => res.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/api/chat`,
    get aborts() {
      return aborts;
    },
    nextAbort: () => new Promise<void>((resolve) => waiters.push(resolve)),
    close: () =>
      new Promise<void>((resolve) => {
        abortListeners.delete(onAbort);
        waiters = [];
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Node's request → a web Request (aborted when the client goes away), the route's Response → Node's response. */
async function serve(req: IncomingMessage, res: ServerResponse, token: string | undefined) {
  if (token && req.headers.authorization !== `Bearer ${token}`) {
    res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unauthorized"}');
    return;
  }
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  const client = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) client.abort();
  });
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers.set(name, value);
  const request = new Request(`http://127.0.0.1${req.url ?? '/'}`, {
    method: req.method ?? 'POST',
    headers,
    body: Buffer.concat(parts),
    signal: client.signal,
  });
  const response = await POST(request);
  response.headers.forEach((value, name) => {
    res.setHeader(name, value);
  });
  res.writeHead(response.status);
  res.flushHeaders();
  if (!response.body) return void res.end();
  const reader = response.body.getReader();
  client.signal.addEventListener('abort', () => void reader.cancel().catch(() => {}), { once: true });
  for (let r = await reader.read(); !r.done; r = await reader.read()) res.write(r.value);
  res.end();
}

// ---------------------------------------------------------------------------------------------------------------
// The scripted model

function script(options: CallOptions): StreamResult {
  const prompt = options.prompt;
  const last = prompt.at(-1);
  const userText = lastUserText(prompt);
  const parts: Array<StreamPart | { wait: number }> = [{ type: 'stream-start', warnings: [] }];
  if (last?.role === 'tool') {
    const result = last.content.find((p) => p.type === 'tool-result');
    const output = result?.output;
    const value = output && 'value' in output ? JSON.stringify(output.value) : 'nothing';
    const said = output?.type === 'execution-denied' ? `was denied: ${output.reason ?? 'no reason'}` : `says ${value}`;
    parts.push(...words('t2', `The ${result?.toolName ?? 'weather'} tool ${said}.`));
  } else if (userText.startsWith('weather ') || userText.startsWith('refund ')) {
    const [toolName = '', argument = ''] = userText.split(/ (.*)/s);
    const input = JSON.stringify(toolName === 'weather' ? { city: argument.trim() } : { order: argument.trim() });
    parts.push(
      { type: 'tool-input-start', id: 'call-1', toolName },
      { type: 'tool-input-delta', id: 'call-1', delta: input },
      { type: 'tool-input-end', id: 'call-1' },
      { type: 'tool-call', toolCallId: 'call-1', toolName, input },
    );
    return stream(parts, options.abortSignal, 'tool-calls');
  } else if (userText.startsWith('think ')) {
    parts.push(
      { type: 'reasoning-start', id: 'r1' },
      { type: 'reasoning-delta', id: 'r1', delta: 'Let me think about ' },
      { type: 'reasoning-delta', id: 'r1', delta: userText.slice(6) },
      { type: 'reasoning-end', id: 'r1' },
      ...words('t1', `I thought about ${userText.slice(6)}.`),
    );
  } else if (userText === 'fail') {
    const [start, first, second] = words('t1', 'Half an answer');
    if (start && first && second) parts.push(start, first, second);
    parts.push({ type: 'error', error: new Error('the mock model failed mid-stream') });
    return stream(parts, options.abortSignal, null);
  } else if (userText.startsWith('slow ')) {
    const n = Number(userText.slice(5)) || 10;
    const text = Array.from({ length: n }, (_, i) => `w${i}`).join(' ');
    for (const part of words('t1', text)) parts.push(part, { wait: 50 });
  } else {
    parts.push(...words('t1', `You said: ${userText}`));
  }
  return stream(parts, options.abortSignal, 'stop');
}

function lastUserText(prompt: CallOptions['prompt']): string {
  const user = prompt.findLast((m) => m.role === 'user');
  if (!user || user.role !== 'user') return '';
  return user.content.map((p) => (p.type === 'text' ? p.text : '')).join('');
}

function words(id: string, text: string): StreamPart[] {
  const pieces = text.match(/\S+\s*/g) ?? [];
  return [
    { type: 'text-start', id },
    ...pieces.map((delta): StreamPart => ({ type: 'text-delta', id, delta })),
    { type: 'text-end', id },
  ];
}

const usage = {
  inputTokens: { total: 3, noCache: 3, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 5, text: 5, reasoning: undefined },
};

/** The parts as a model stream that stops early when the call is aborted, as a provider's fetch would. */
function stream(
  parts: Array<StreamPart | { wait: number }>,
  signal: AbortSignal | undefined,
  finish: 'stop' | 'tool-calls' | null,
): StreamResult {
  const all = finish
    ? [...parts, { type: 'finish', usage, finishReason: { unified: finish, raw: finish } } as const]
    : parts;
  let i = 0;
  return {
    stream: new ReadableStream<StreamPart>({
      async pull(controller) {
        for (;;) {
          if (signal?.aborted) return controller.error(signal.reason);
          const part = all[i++];
          if (!part) return controller.close();
          if ('wait' in part) {
            await new Promise((resolve) => setTimeout(resolve, part.wait));
            continue;
          }
          controller.enqueue(part);
          return;
        }
      },
    }),
  };
}
