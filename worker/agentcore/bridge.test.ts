import { env } from 'cloudflare:workers';
import type { UIMessage, UIMessageChunk } from 'ai';
import { describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../config';
import { AgentError, type AgentTurn, checkAgent, streamAgent, turnBody } from './bridge';

/** The test-only bindings vitest.config.ts hands the pool (the dev agent runs in the global setup). */
const bindings = env as unknown as Record<string, string>;
const config = loadConfig(env);
const agentBase = bindings.TEST_AGENT_BASE ?? '';
const withSettings = (settings: Record<string, string>) => loadConfig({ ...bindings, ...settings });
const openai = withSettings({
  AGENTCORE_PROTOCOL: 'openai',
  AGENTCORE_URL: `${agentBase}/openai/v1`,
  AGENTCORE_MODEL: 'test-model',
});

function userMessage(text: string, id = 'u-1'): UIMessage {
  return { id, role: 'user', parts: [{ type: 'text', text }] };
}

function turnOf(text: string, history: UIMessage[] = []): AgentTurn {
  return {
    conversationId: crypto.randomUUID(),
    userId: 'user-bridge',
    messageId: crypto.randomUUID(),
    messages: [...history, userMessage(text)],
  };
}

interface Outcome {
  chunks: UIMessageChunk[];
  error: unknown;
  ms: number;
}

async function run(
  text: string,
  opts: {
    config?: typeof config;
    history?: UIMessage[];
    signal?: AbortSignal;
    onChunk?: (c: UIMessageChunk) => void;
  } = {},
): Promise<Outcome> {
  const chunks: UIMessageChunk[] = [];
  const started = Date.now();
  try {
    const signal = opts.signal ?? new AbortController().signal;
    for await (const chunk of streamAgent(opts.config ?? config, turnOf(text, opts.history), signal)) {
      chunks.push(chunk);
      opts.onChunk?.(chunk);
    }
    return { chunks, error: undefined, ms: Date.now() - started };
  } catch (error) {
    return { chunks, error, ms: Date.now() - started };
  }
}

async function collect(chunks: AsyncIterable<UIMessageChunk>): Promise<UIMessageChunk[]> {
  const out: UIMessageChunk[] = [];
  for await (const c of chunks) out.push(c);
  return out;
}

const textOf = (chunks: UIMessageChunk[]) => chunks.map((c) => (c.type === 'text-delta' ? c.delta : '')).join('');
const count = (chunks: UIMessageChunk[], type: string) => chunks.filter((c) => c.type === type).length;

function expectAgentError(error: unknown, code: AgentError['code']) {
  expect(error).toBeInstanceOf(AgentError);
  expect((error as AgentError).code).toBe(code);
}

describe('streamAgent (ui-stream, against the dev agent)', () => {
  it('yields the agent chunks without its start/finish, reassembling to its text, metadata kept', async () => {
    const { chunks, error } = await run('!dev echo\nThe quick brown fox\njumps.');
    expect(error).toBeUndefined();
    expect(textOf(chunks)).toBe('The quick brown fox\njumps.');
    expect(count(chunks, 'start')).toBe(0);
    expect(count(chunks, 'finish')).toBe(0);
    expect(chunks[0]).toEqual({ type: 'message-metadata', messageMetadata: { agent: 'dev', model: 'dev-agent' } });
    expect(chunks.at(-1)).toEqual({ type: 'finish-step' });
  });

  it('streams a plain prompt to the dev agent answer, word by word', async () => {
    const { chunks, error } = await run('Tell me about bridges');
    expect(error).toBeUndefined();
    expect(textOf(chunks)).toContain('This is the dev agent');
    expect(textOf(chunks)).toContain('"Tell me about bridges"');
    expect(count(chunks, 'text-delta')).toBeGreaterThan(10);
  });

  it('passes tool calls through', async () => {
    const { chunks } = await run('!dev calc=6*7');
    expect(chunks).toContainEqual(expect.objectContaining({ type: 'tool-output-available', output: { result: '42' } }));
    expect(textOf(chunks)).toBe('The result of 6*7 is 42.');
  });

  it('fail_after: N deltas, then AgentError agent_error with the agent text', async () => {
    const { chunks, error } = await run('!dev words=10 fail_after=3');
    expect(count(chunks, 'text-delta')).toBe(3);
    expectAgentError(error, 'agent_error');
    expect((error as Error).message).toContain('fail_after');
  });

  it('cut_after: a connection dropped before finish is agent_cut', async () => {
    const { chunks, error } = await run('!dev words=10 cut_after=4');
    expect(count(chunks, 'text-delta')).toBe(4);
    expectAgentError(error, 'agent_cut');
  });

  it('hang_after: silence past the idle timeout is agent_timeout', async () => {
    const { chunks, error, ms } = await run('!dev words=10 hang_after=2', {
      config: withSettings({ AGENTCORE_IDLE_TIMEOUT_MS: '500' }),
    });
    expect(count(chunks, 'text-delta')).toBe(2);
    expectAgentError(error, 'agent_timeout');
    expect(ms).toBeGreaterThanOrEqual(450);
    expect(ms).toBeLessThan(1800);
  });

  it('a first chunk slower than the first-chunk timeout is agent_timeout', async () => {
    const { chunks, error } = await run('!dev words=2 delay_ms=1500', {
      config: withSettings({ AGENTCORE_FIRST_CHUNK_TIMEOUT_MS: '300' }),
    });
    expect(chunks).toEqual([]);
    expectAgentError(error, 'agent_timeout');
  });

  it('a room too busy to read its agent in time does not blame the agent for its own lateness', async () => {
    const settings = withSettings({ AGENTCORE_FIRST_CHUNK_TIMEOUT_MS: '300' });
    const stream = streamAgent(settings, turnOf('!dev words=3'), new AbortController().signal);
    const first = stream.next();
    // The isolate busy for longer than the deadline and BACKLOG_TOLERANCE_MS together, as a room relaying more than
    // a core can (faults load): the request goes out, and the answer is read, only after the deadline's timer is due.
    const blocked = Date.now();
    let x = 0;
    for (let i = 0; i < 3.5e9; i++) x ^= i;
    const chunks: UIMessageChunk[] = [];
    let error: unknown;
    try {
      chunks.push((await first).value as UIMessageChunk);
      for await (const chunk of { [Symbol.asyncIterator]: () => stream }) chunks.push(chunk);
    } catch (err) {
      error = err;
    }
    expect(Date.now() - blocked, `the isolate was busy too short a time to show anything (${x})`).toBeGreaterThan(
      1_400,
    );
    expect(error).toBeUndefined();
    expect(count(chunks, 'text-delta')).toBe(3);
  });

  it('slow but steady chunks within the idle timeout are fine', async () => {
    const { chunks, error } = await run('!dev words=3 delay_ms=150', {
      config: withSettings({ AGENTCORE_IDLE_TIMEOUT_MS: '500', AGENTCORE_FIRST_CHUNK_TIMEOUT_MS: '500' }),
    });
    expect(error).toBeUndefined();
    expect(count(chunks, 'text-delta')).toBe(3);
  });

  it('abort mid-stream stops reading and throws the abort reason', async () => {
    const controller = new AbortController();
    const { chunks, error, ms } = await run('!dev words=200 delay_ms=20', {
      signal: controller.signal,
      onChunk: (c) => {
        if (c.type === 'text-delta' && c.delta.startsWith('dev')) controller.abort();
      },
    });
    expect(error).toBeInstanceOf(DOMException);
    expect((error as DOMException).name).toBe('AbortError');
    expect(count(chunks, 'text-delta')).toBe(2);
    expect(ms).toBeLessThan(2000);
  });

  it('abort while the agent is silent ends at once with the given reason', async () => {
    const controller = new AbortController();
    const reason = new Error('user pressed stop');
    setTimeout(() => controller.abort(reason), 200);
    const { error, ms } = await run('!dev words=10 hang_after=1', { signal: controller.signal });
    expect(error).toBe(reason);
    expect(ms).toBeLessThan(1500);
  });

  it('an already aborted signal never calls the agent', async () => {
    const controller = new AbortController();
    controller.abort();
    const { chunks, error } = await run('!dev words=3', { signal: controller.signal });
    expect(chunks).toEqual([]);
    expect((error as DOMException).name).toBe('AbortError');
  });

  it('a chunk that breaks the protocol schema is agent_bad_stream, naming the field', async () => {
    const { chunks, error } = await run('!dev bad_chunk words=3');
    expectAgentError(error, 'agent_bad_stream');
    expect((error as Error).message).toContain('"text-delta" chunk is invalid (delta:');
    expect(count(chunks, 'text-delta')).toBe(0);
  });

  it('an event that is not JSON is agent_bad_stream, after the chunks before it', async () => {
    const { chunks, error } = await run('!dev words=3 garbage');
    expectAgentError(error, 'agent_bad_stream');
    expect((error as Error).message).toContain('not JSON');
    expect(count(chunks, 'text-delta')).toBe(3);
  });

  it('a chunk of a type the protocol does not have is agent_bad_stream, naming the type', async () => {
    const { chunks, error } = await run('!dev words=2 unknown_chunk');
    expectAgentError(error, 'agent_bad_stream');
    expect((error as Error).message).toContain('unknown chunk type "banana-split"');
    expect(count(chunks, 'text-delta')).toBe(2);
  });

  it('a 200 that is not an event stream is agent_bad_stream, naming its content type', async () => {
    const { error } = await run('!dev not_sse');
    expectAgentError(error, 'agent_bad_stream');
    expect((error as Error).message).toContain('text/plain instead of an event stream');
  });

  it('401 and 403 are agent_unauthorized; another status is agent_http with it; no connection is agent_unreachable', async () => {
    for (const status of [401, 403]) {
      const { error } = await run(`!dev status=${status}`);
      expectAgentError(error, 'agent_unauthorized');
      expect((error as Error).message).toContain('AGENTCORE_TOKEN');
    }
    const failed = await run('!dev status=500');
    expectAgentError(failed.error, 'agent_http');
    expect((failed.error as AgentError).status).toBe(500);
    const missing = await run('hi', { config: withSettings({ AGENTCORE_URL: `${agentBase}/no-such-path` }) });
    expectAgentError(missing.error, 'agent_http');
    expect((missing.error as AgentError).status).toBe(404);
    const down = await run('hi', { config: withSettings({ AGENTCORE_URL: 'http://127.0.0.1:9/v1/agent' }) });
    expectAgentError(down.error, 'agent_unreachable');
  });

  it('logs one line per failed reply naming the conversation and the request id', async () => {
    const lines: string[] = [];
    const spy = vi.spyOn(console, 'warn').mockImplementation((line: unknown) => void lines.push(String(line)));
    try {
      const turn = { ...turnOf('!dev words=2 garbage'), requestId: 'req-log-1' };
      await expect(collect(streamAgent(config, turn, new AbortController().signal))).rejects.toThrow(AgentError);
      expect(lines.map((l) => JSON.parse(l))).toEqual([
        expect.objectContaining({
          msg: 'agent reply failed',
          conversation_id: turn.conversationId,
          message_id: turn.messageId,
          request_id: 'req-log-1',
          code: 'agent_bad_stream',
        }),
      ]);
    } finally {
      spy.mockRestore();
    }
  });

  it('sends the AI SDK chat request fields with ours, and the request id as X-Request-Id (made when absent)', async () => {
    const turn = { ...turnOf('!dev inspect'), requestId: 'req-from-edge' };
    const given = textOf(await collect(streamAgent(config, turn, new AbortController().signal)));
    expect(given).toContain(' request_id=req-from-edge trigger=submit-message ');
    const made = textOf((await run('!dev inspect')).chunks);
    expect(made).toMatch(/ request_id=[0-9a-f-]{36} /);
    expect(JSON.parse(turnBody(turn))).toEqual({
      id: turn.conversationId,
      messages: turn.messages,
      trigger: 'submit-message',
      conversation_id: turn.conversationId,
      user_id: turn.userId,
      message_id: turn.messageId,
    });
  });

  it('says trigger regenerate-message and the replaced reply as messageId on a regenerate (SPEC §9)', async () => {
    const replaced = crypto.randomUUID();
    const turn = { ...turnOf('!dev inspect'), regenerates: replaced };
    const given = textOf(await collect(streamAgent(config, turn, new AbortController().signal)));
    expect(given).toContain(' trigger=regenerate-message ');
    expect(given).toContain(` replaces=${replaced}`);
    expect(JSON.parse(turnBody(turn))).toEqual({
      id: turn.conversationId,
      messages: turn.messages,
      trigger: 'regenerate-message',
      messageId: replaced,
      conversation_id: turn.conversationId,
      user_id: turn.userId,
      message_id: turn.messageId,
    });
  });

  it('the agent receives every SPEC §6 body field and header, as its inspect reports them', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const turn = {
      ...turnOf('!dev inspect', [userMessage('earlier', 'u-0')]),
      requestId: 'req-every-field',
      traceparent,
    };
    const text = textOf(await collect(streamAgent(config, turn, new AbortController().signal)));
    const seen = Object.fromEntries(
      text.split(' ').map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
    );
    expect(seen).toEqual({
      message_id: turn.messageId,
      idempotency_key: turn.messageId,
      bearer: 'yes',
      accept: 'text/event-stream',
      messages: '2',
      history: 'u-0,u-1',
      request_id: 'req-every-field',
      trigger: 'submit-message',
      connection_requests: expect.stringMatching(/^\d+$/),
      id: turn.conversationId,
      conversation_id: turn.conversationId,
      user_id: 'user-bridge',
      content_type: 'application/json',
      resume_from: 'none',
      replaces: 'none',
      traceparent,
    });
  });

  // The bounds of SPEC §6 are the room's to apply (worker/room/agent-history.test.ts): the bridge sends what it is given.
  it('sends the SPEC §6 headers and the messages it is given, ending with the new one', async () => {
    const history = Array.from({ length: 6 }, (_, i) => userMessage(`old ${i}`, `old-${i}`));
    const turn = turnOf('!dev inspect', history);
    const limited = withSettings({ AGENTCORE_HISTORY_LIMIT: '3' });
    const chunks: UIMessageChunk[] = [];
    for await (const c of streamAgent(limited, turn, new AbortController().signal)) chunks.push(c);
    expect(textOf(chunks)).toMatch(
      `message_id=${turn.messageId} idempotency_key=${turn.messageId} bearer=yes accept=text/event-stream messages=7 `,
    );
    const echoed = await run('!dev echo\nnewest', { config: limited, history });
    expect(textOf(echoed.chunks)).toBe('newest');
  });

  it('reads a finished reply to its end, so the next request reuses the connection instead of opening one', async () => {
    await run('!dev words=3 delay_ms=0');
    const inspected = await run('!dev inspect');
    const carried = Number(/connection_requests=(\d+)/.exec(textOf(inspected.chunks))?.[1]);
    expect(carried).toBeGreaterThanOrEqual(2);
  });

  it('resumes a resumable agent from its chunk n: the rest of the reply, counted on from n', async () => {
    const turn = turnOf('!dev words=6 calc=2*3');
    const progress = { resumable: false, agentChunks: 0 };
    const first = await collect(streamAgent(config, { ...turn, progress }, new AbortController().signal));
    expect(progress.resumable).toBe(true);
    // The agent's start is not yielded (the room owns it): agent chunk n is yielded chunk n - 1.
    expect(progress.agentChunks).toBe(first.length + 2);
    const resumed = { resumable: false, agentChunks: 0 };
    const rest = await collect(
      streamAgent(config, { ...turn, resumeFrom: 4, progress: resumed }, new AbortController().signal),
    );
    expect(rest).toEqual(first.slice(3));
    expect(resumed.agentChunks).toBe(progress.agentChunks);
  });

  it('a resume the agent cannot serve fails with its status', async () => {
    const { error } = await (async () => {
      try {
        await collect(streamAgent(config, { ...turnOf('!dev words=3'), resumeFrom: 2 }, new AbortController().signal));
        return { error: undefined };
      } catch (error) {
        return { error };
      }
    })();
    expectAgentError(error, 'agent_http');
    expect((error as AgentError).status).toBe(409);
  });
});

describe('streamAgent (openai protocol, against the fake chat completions API)', () => {
  it('translates streamed text and reports model and usage as metadata', async () => {
    const { chunks, error } = await run('hello model', { config: openai });
    expect(error).toBeUndefined();
    expect(textOf(chunks)).toBe('Fake model answer to: hello model');
    expect(chunks[0]).toEqual({ type: 'text-start', id: 'text-1' });
    expect(chunks).toContainEqual({
      type: 'message-metadata',
      messageMetadata: { model: 'test-model', usage: { inputTokens: 2, outputTokens: 6, totalTokens: 8 } },
    });
  });

  it('translates reasoning deltas', async () => {
    const { chunks } = await run('think: deeply', { config: openai });
    expect(chunks.slice(0, 2)).toEqual([
      { type: 'reasoning-start', id: 'reasoning-1' },
      { type: 'reasoning-delta', id: 'reasoning-1', delta: 'Thinking ' },
    ]);
    expect(count(chunks, 'reasoning-end')).toBe(1);
    expect(textOf(chunks)).toBe('Fake model answer to: deeply');
  });

  it('translates a streamed tool call into tool-input chunks with parsed arguments', async () => {
    const { chunks, error } = await run('calc: 6*7', { config: openai });
    expect(error).toBeUndefined();
    expect(chunks[0]).toEqual({ type: 'tool-input-start', toolCallId: 'call_dev_1', toolName: 'calculator' });
    expect(count(chunks, 'tool-input-delta')).toBe(3);
    expect(chunks).toContainEqual({
      type: 'tool-input-available',
      toolCallId: 'call_dev_1',
      toolName: 'calculator',
      input: { expression: '6*7' },
    });
  });

  it('translates parallel tool calls whose argument deltas arrive interleaved', async () => {
    const { chunks, error } = await run('calc: 1+1; 2*3', { config: openai });
    expect(error).toBeUndefined();
    const tools = chunks.filter((c) => c.type.startsWith('tool-'));
    expect(tools.filter((c) => c.type === 'tool-input-start')).toEqual([
      { type: 'tool-input-start', toolCallId: 'call_dev_1', toolName: 'calculator' },
      { type: 'tool-input-start', toolCallId: 'call_dev_2', toolName: 'calculator' },
    ]);
    const deltasOf = (id: string) =>
      tools.flatMap((c) => (c.type === 'tool-input-delta' && c.toolCallId === id ? [c.inputTextDelta] : []));
    expect(deltasOf('call_dev_1').join('')).toBe('{"expression":"1+1"}');
    expect(deltasOf('call_dev_2').join('')).toBe('{"expression":"2*3"}');
    expect(tools.filter((c) => c.type === 'tool-input-available')).toEqual([
      { type: 'tool-input-available', toolCallId: 'call_dev_1', toolName: 'calculator', input: { expression: '1+1' } },
      { type: 'tool-input-available', toolCallId: 'call_dev_2', toolName: 'calculator', input: { expression: '2*3' } },
    ]);
  });

  it('an error in the middle of the stream is agent_error with the server’s message, after the text so far', async () => {
    const { chunks, error } = await run('fail: out of memory', { config: openai });
    expect(textOf(chunks)).toBe('Partial fake answer');
    expectAgentError(error, 'agent_error');
    expect((error as Error).message).toBe('the fake model failed mid-stream: out of memory');
  });

  it('sends earlier tool calls and results back as chat messages', async () => {
    const history: UIMessage[] = [
      userMessage('calc: 6*7', 'u-0'),
      {
        id: 'a-0',
        role: 'assistant',
        parts: [
          {
            type: 'tool-calculator',
            toolCallId: 'call_dev_1',
            state: 'output-available',
            input: { expression: '6*7' },
            output: { result: '42' },
          },
        ],
      },
    ];
    // The fake model answers a trailing tool result; drop the new user message to end on it.
    const turn = turnOf('unused', history);
    turn.messages = history;
    const chunks: UIMessageChunk[] = [];
    for await (const c of streamAgent(openai, turn, new AbortController().signal)) chunks.push(c);
    expect(textOf(chunks)).toBe('The calculator says {"result":"42"}.');
  });

  it('a JSON answer where a stream was expected is agent_bad_stream', async () => {
    const { error } = await run('hi', { config: withSettings({ AGENTCORE_URL: `${agentBase}/openai/v1/models` }) });
    expectAgentError(error, 'agent_bad_stream');
    expect((error as Error).message).toContain('application/json instead of an event stream');
  });

  it('a wrong base URL is agent_http', async () => {
    const { error } = await run('hi', {
      config: withSettings({ AGENTCORE_PROTOCOL: 'openai', AGENTCORE_URL: `${agentBase}/nope/v1` }),
    });
    expectAgentError(error, 'agent_http');
  });
});

describe('checkAgent', () => {
  it('is true for a reachable agent in either protocol and false for an unreachable one', async () => {
    expect(await checkAgent(config)).toBe(true);
    expect(await checkAgent(openai)).toBe(true);
    expect(await checkAgent(withSettings({ AGENTCORE_URL: 'http://127.0.0.1:9/v1/agent' }))).toBe(false);
  });
});
