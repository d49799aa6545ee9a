import { asSchema, readUIMessageStream, type UIMessage, type UIMessageChunk, uiMessageChunkSchema } from 'ai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CalcError,
  calculate,
  type DevAgent,
  POISON_TEXT,
  parseDevPrompt,
  splitWords,
  startDevAgent,
} from './agentcore';
import { allEvents, sseEvents } from './testing';

let agent: DevAgent;

beforeAll(async () => {
  agent = await startDevAgent({ port: 0, replyDelayMs: 0 });
});
afterAll(() => agent.close());

interface Reply {
  status: number;
  headers: Headers;
  chunks: UIMessageChunk[];
  /** Saw `data: [DONE]`. */
  done: boolean;
  /** The body failed to read to its end (dropped connection). */
  readError: unknown;
}

function turn(text: string, messageId = 'msg-1') {
  return {
    conversation_id: 'conv-1',
    user_id: 'user-1',
    message_id: messageId,
    messages: [{ id: 'u1', role: 'user', parts: [{ type: 'text', text }] }],
  };
}

/** POSTs to the agent and reads SSE events until the end, a dropped connection, or `until` says stop. */
async function ask(
  text: string,
  opts: {
    url?: string;
    headers?: Record<string, string>;
    until?: (chunks: UIMessageChunk[]) => boolean;
    /** Messages after the one with `text`: an assistant message a continuation goes on with. */
    after?: UIMessage[];
  } = {},
): Promise<Reply & { abort(): void }> {
  const controller = new AbortController();
  const res = await fetch(opts.url ?? agent.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...opts.headers },
    body: JSON.stringify({ ...turn(text), messages: [...turn(text).messages, ...(opts.after ?? [])] }),
    signal: controller.signal,
  });
  const reply = {
    status: res.status,
    headers: res.headers,
    chunks: [] as UIMessageChunk[],
    done: false,
    readError: undefined as unknown,
  };
  const result = { ...reply, abort: () => controller.abort() };
  if (!res.body || !res.headers.get('content-type')?.startsWith('text/event-stream')) return result;
  try {
    for await (const event of sseEvents(res)) {
      if (event.data === '[DONE]') result.done = true;
      else result.chunks.push(JSON.parse(event.data) as UIMessageChunk);
      if (opts.until?.(result.chunks)) return result;
    }
  } catch (err) {
    result.readError = err;
  }
  return result;
}

const deltas = (chunks: UIMessageChunk[]) => chunks.flatMap((c) => (c.type === 'text-delta' ? [c.delta] : []));
const text = (chunks: UIMessageChunk[]) => deltas(chunks).join('');
const types = (chunks: UIMessageChunk[]) => chunks.map((c) => c.type);

async function expectValidChunks(chunks: UIMessageChunk[]) {
  const schema = asSchema(uiMessageChunkSchema);
  for (const chunk of chunks) {
    const result = await schema.validate?.(chunk);
    expect(result?.success, JSON.stringify(chunk)).toBe(true);
  }
}

describe('dev agent: bridge endpoint', () => {
  it('answers a plain prompt deterministically, as a dev agent, in the UI message stream protocol', async () => {
    const a = await ask('Hello there, agent');
    const b = await ask('Hello there, agent');
    expect(a.status).toBe(200);
    expect(a.headers.get('content-type')).toBe('text/event-stream');
    expect(a.headers.get('x-vercel-ai-ui-message-stream')).toBe('v1');
    expect(a.chunks).toEqual(b.chunks);
    expect(a.done).toBe(true);
    expect(a.chunks[0]).toEqual({ type: 'start', messageId: 'msg-1' });
    expect(a.chunks).toContainEqual({
      type: 'message-metadata',
      messageMetadata: { agent: 'dev', model: 'dev-agent' },
    });
    expect(a.chunks.at(-1)).toMatchObject({ type: 'finish' });
    expect(text(a.chunks)).toContain('dev agent');
    expect(text(a.chunks)).toContain('Hello there, agent');
    await expectValidChunks(a.chunks);
    const other = await ask('Something else entirely');
    expect(text(other.chunks)).not.toBe(text(a.chunks));
  });

  it('words=N streams exactly N words, one text-delta each, reassembling to the text', async () => {
    const r = await ask('!dev words=7\nignored prompt');
    const pieces = deltas(r.chunks);
    expect(pieces).toHaveLength(7);
    for (const piece of pieces) expect(piece.trim().split(/\s+/)).toHaveLength(1);
    expect(text(r.chunks).split(' ')).toHaveLength(7);
    expect(types(r.chunks)).toEqual([
      'start',
      'message-metadata',
      'start-step',
      'text-start',
      ...Array<string>(7).fill('text-delta'),
      'text-end',
      'finish-step',
      'finish',
    ]);
    expect((await ask('!dev words=0')).chunks.filter((c) => c.type === 'text-delta')).toHaveLength(0);
  });

  it('echo answers with the prompt text exactly, one delta per word', async () => {
    const prompt = 'first line  with  spaces\nsecond line';
    const r = await ask(`!dev echo\n${prompt}`);
    expect(text(r.chunks)).toBe(prompt);
    expect(deltas(r.chunks)).toHaveLength(6);
  });

  it('delay_ms spaces the chunks out', async () => {
    const started = Date.now();
    const r = await ask('!dev words=4 delay_ms=40');
    // start … finish is 11 chunks + [DONE], each after 40 ms.
    expect(Date.now() - started).toBeGreaterThanOrEqual(460);
    expect(deltas(r.chunks)).toHaveLength(4);
  });

  it('fail_after=N sends N word deltas, then an error chunk, and closes without finish', async () => {
    const r = await ask('!dev words=10 fail_after=3');
    expect(deltas(r.chunks)).toHaveLength(3);
    expect(r.chunks.at(-1)).toMatchObject({ type: 'error', errorText: expect.stringContaining('fail_after') });
    expect(types(r.chunks)).not.toContain('finish');
    expect(r.readError).toBeUndefined();
  });

  it('cut_after=N sends N word deltas, then drops the connection', async () => {
    const r = await ask('!dev words=10 cut_after=4');
    expect(deltas(r.chunks)).toHaveLength(4);
    expect(r.readError).toBeDefined();
    expect(r.done).toBe(false);
    expect(types(r.chunks)).not.toContain('finish');
  });

  it('hang_after=N sends N word deltas, then stays silent with the connection open until the client leaves', async () => {
    const r = await ask('!dev words=10 hang_after=2', { until: (c) => deltas(c).length === 2 });
    expect(deltas(r.chunks)).toHaveLength(2);
    // Nothing more arrives, and the socket is not closed either: a read stays pending.
    const res = await fetch(agent.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(turn('!dev words=10 hang_after=2')),
    });
    const reader = res.body?.getReader();
    if (!reader) throw new Error('no body');
    let received = '';
    const decoder = new TextDecoder();
    const pending = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return 'closed';
        received += decoder.decode(value, { stream: true });
      }
    })();
    const outcome = await Promise.race([pending, new Promise((resolve) => setTimeout(() => resolve('silent'), 400))]);
    expect(outcome).toBe('silent');
    expect(received.match(/"text-delta"/g)).toHaveLength(2);
    await reader.cancel();
    r.abort();
  });

  it('calc=EXPR calls the calculator tool and answers with the computed result', async () => {
    const r = await ask('!dev calc=2+3*(4-1)^2');
    expect(types(r.chunks).slice(0, 8)).toEqual([
      'start',
      'message-metadata',
      'start-step',
      'tool-input-start',
      'tool-input-available',
      'tool-output-available',
      'finish-step',
      'start-step',
    ]);
    expect(r.chunks).toContainEqual(
      expect.objectContaining({
        type: 'tool-input-available',
        toolName: 'calculator',
        input: { expression: '2+3*(4-1)^2' },
      }),
    );
    expect(r.chunks).toContainEqual(
      expect.objectContaining({ type: 'tool-output-available', output: { result: '29' } }),
    );
    expect(text(r.chunks)).toBe('The result of 2+3*(4-1)^2 is 29.');
    await expectValidChunks(r.chunks);
  });

  it('approve=calc asks before using the calculator, and goes on as the person answered (SPEC §9)', async () => {
    const headers = { 'idempotency-key': `msg-${crypto.randomUUID()}` };
    const asked = await ask('!dev approve=calc calc=6*7', { headers });
    expect(types(asked.chunks)).toEqual([
      'start',
      'message-metadata',
      'start-step',
      'tool-input-start',
      'tool-input-available',
      'tool-approval-request',
      'finish-step',
      'finish',
    ]);
    await expectValidChunks(asked.chunks);
    // The assistant message as the AI SDK assembles it, then answered as useChat's addToolApprovalResponse does.
    let assistant: UIMessage | undefined;
    const stream = new ReadableStream<UIMessageChunk>({
      start(c) {
        for (const chunk of asked.chunks) c.enqueue(chunk);
        c.close();
      },
    });
    for await (const m of readUIMessageStream({ stream })) assistant = m;
    const part = assistant?.parts.find((p) => p.type === 'tool-calculator') as Record<string, unknown> | undefined;
    expect(part).toMatchObject({ state: 'approval-requested', input: { expression: '6*7' } });
    const answered = (approved: boolean, reason?: string): UIMessage => ({
      ...(assistant as UIMessage),
      id: 'a1',
      parts: [
        {
          ...part,
          state: 'approval-responded',
          approval: { id: (part?.approval as { id: string }).id, approved, reason },
        } as UIMessage['parts'][number],
      ],
    });
    // The same Idempotency-Key as the question: a continuation is not a replay of it.
    const yes = await ask('!dev approve=calc calc=6*7', { headers, after: [answered(true)] });
    expect(types(yes.chunks).slice(0, 3)).toEqual(['start', 'message-metadata', 'tool-output-available']);
    expect(yes.chunks).toContainEqual(expect.objectContaining({ output: { result: '42' } }));
    expect(text(yes.chunks)).toBe('The result of 6*7 is 42.');
    const no = await ask('!dev approve=calc calc=6*7', { after: [answered(false, 'not now')] });
    expect(types(no.chunks)[2]).toBe('tool-output-denied');
    expect(text(no.chunks)).toBe('I did not use the calculator: not now.');
    await expectValidChunks([...yes.chunks, ...no.chunks]);
  });

  it('calc with a bad expression reports a tool error and says so', async () => {
    const r = await ask('!dev calc=1/0');
    expect(r.chunks).toContainEqual(
      expect.objectContaining({ type: 'tool-output-error', errorText: 'division by zero' }),
    );
    expect(text(r.chunks)).toBe('I could not compute 1/0: division by zero.');
    expect(r.chunks.at(-1)).toMatchObject({ type: 'finish' });
  });

  it('a question about the time calls the clock tool', async () => {
    const before = Date.now();
    const r = await ask('What time is it?');
    const output = r.chunks.find((c) => c.type === 'tool-output-available');
    expect(r.chunks).toContainEqual(expect.objectContaining({ type: 'tool-input-start', toolName: 'clock' }));
    const iso = (output as { output: { iso: string } } | undefined)?.output.iso ?? '';
    expect(Date.parse(iso)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(iso)).toBeLessThanOrEqual(Date.now() + 1000);
    expect(text(r.chunks)).toContain(iso);
  });

  it('once fails a prompt the first time only: asked again after it in the history, the reply is whole', async () => {
    const prompt = '!dev words=6 fail_after=2 once';
    const first = await ask(prompt);
    expect(first.chunks.at(-1)).toMatchObject({ type: 'error' });
    const again = await fetch(agent.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({
        message_id: 'msg-2',
        messages: [
          { id: 'u1', role: 'user', parts: [{ type: 'text', text: prompt }] },
          { id: 'a1', role: 'assistant', parts: [{ type: 'text', text: 'the dev ' }] },
          { id: 'u2', role: 'user', parts: [{ type: 'text', text: prompt }] },
        ],
      }),
    });
    const chunks = (await allEvents(again)).filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));
    expect(chunks.filter((c) => c.type === 'text-delta')).toHaveLength(6);
    expect(chunks.at(-1)).toMatchObject({ type: 'finish' });
  });

  it('poison answers with NUL and an unpaired surrogate, written as JSON escapes', async () => {
    const r = await ask('!dev poison\nanything');
    expect(text(r.chunks)).toBe(POISON_TEXT);
    expect(POISON_TEXT).toContain('\u0000');
    expect(POISON_TEXT).toContain('\ud800');
    expect(r.chunks.at(-1)).toMatchObject({ type: 'finish' });
  });

  it('bad_chunk sends a chunk that fails the protocol schema', async () => {
    const r = await ask('!dev bad_chunk words=2');
    const bad = r.chunks.find((c) => c.type === 'text-delta' && !('delta' in c));
    expect(bad).toBeDefined();
    const result = await asSchema(uiMessageChunkSchema).validate?.(bad);
    expect(result?.success).toBe(false);
  });

  it('inspect answers with what the request carried, never the token itself', async () => {
    const r = await ask('!dev inspect', {
      headers: { 'idempotency-key': 'msg-1', authorization: 'Bearer hidden-value' },
    });
    expect(text(r.chunks)).toMatch(
      /^message_id=msg-1 idempotency_key=msg-1 bearer=yes accept=text\/event-stream messages=1 history=u1 request_id=none trigger=none connection_requests=\d+ id=none conversation_id=conv-1 user_id=user-1 content_type=application\/json resume_from=none replaces=none traceparent=none$/,
    );
  });

  it('an unknown or malformed !dev option fails the reply naming it', async () => {
    const r = await ask('!dev wrods=3');
    expect(r.chunks.at(-1)).toMatchObject({ type: 'error', errorText: expect.stringContaining('wrods') });
    const n = await ask('!dev words=lots');
    expect(n.chunks.at(-1)).toMatchObject({ type: 'error', errorText: expect.stringContaining('words') });
  });

  it('rejects a malformed body with 400 and serves /healthz', async () => {
    const bad = await fetch(agent.url, { method: 'POST', body: '{"messages": []}' });
    expect(bad.status).toBe(400);
    const health = await fetch(`${agent.base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', agent: 'dev' });
  });

  it('checks the bearer token only when DEV_AGENT_TOKEN is set', async () => {
    process.env.DEV_AGENT_TOKEN = 'secret-token';
    const guarded = await startDevAgent({ port: 0, replyDelayMs: 0 }).finally(() => {
      delete process.env.DEV_AGENT_TOKEN;
    });
    try {
      expect((await ask('!dev words=1', { url: guarded.url })).status).toBe(401);
      const wrong = await ask('!dev words=1', { url: guarded.url, headers: { authorization: 'Bearer nope' } });
      expect(wrong.status).toBe(401);
      const ok = await ask('!dev words=1', { url: guarded.url, headers: { authorization: 'Bearer secret-token' } });
      expect(ok.status).toBe(200);
      expect(deltas(ok.chunks)).toHaveLength(1);
    } finally {
      await guarded.close();
    }
    expect((await ask('!dev words=1')).status).toBe(200);
  });
});

describe('dev agent: fake OpenAI-compatible API', () => {
  async function complete(messages: unknown[], extra: Record<string, unknown> = {}) {
    const res = await fetch(`${agent.base}/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'test-model',
        stream: true,
        stream_options: { include_usage: true },
        messages,
        ...extra,
      }),
    });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const events = (await allEvents(res)).map((e) => e.data);
    expect(events.at(-1)).toBe('[DONE]');
    return events.slice(0, -1).map((data) => JSON.parse(data) as Record<string, unknown>);
  }
  type Delta = { content?: string; reasoning_content?: string; tool_calls?: { function?: { arguments?: string } }[] };
  const deltaOf = (e: Record<string, unknown>) =>
    (e as { choices: { delta: Delta; finish_reason: string | null }[] }).choices[0];

  it('streams content deltas, a finish reason and usage', async () => {
    const events = await complete([{ role: 'user', content: 'hello model' }]);
    const content = events.map((e) => deltaOf(e)?.delta.content ?? '').join('');
    expect(content).toBe('Fake model answer to: hello model');
    expect(events.some((e) => deltaOf(e)?.finish_reason === 'stop')).toBe(true);
    expect(events.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 2, total_tokens: expect.any(Number) } });
    expect(events[0]).toMatchObject({ model: 'test-model', object: 'chat.completion.chunk' });
  });

  it('streams a tool call in fragments for calc:, then answers the tool result', async () => {
    const events = await complete([{ role: 'user', content: 'calc: 6*7' }]);
    const calls = events.flatMap((e) => deltaOf(e)?.delta.tool_calls ?? []);
    expect(calls[0]).toMatchObject({ index: 0, id: 'call_dev_1', function: { name: 'calculator' } });
    expect(JSON.parse(calls.map((c) => c.function?.arguments ?? '').join(''))).toEqual({ expression: '6*7' });
    expect(events.some((e) => deltaOf(e)?.finish_reason === 'tool_calls')).toBe(true);
    const answer = await complete([
      { role: 'user', content: 'calc: 6*7' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_dev_1', type: 'function', function: { name: 'calculator', arguments: '{"expression":"6*7"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_dev_1', content: '{"result":"42"}' },
    ]);
    expect(answer.map((e) => deltaOf(e)?.delta.content ?? '').join('')).toBe('The calculator says {"result":"42"}.');
  });

  it('streams reasoning first for think:', async () => {
    const events = await complete([{ role: 'user', content: 'think: about tests' }]);
    expect(events.map((e) => deltaOf(e)?.delta.reasoning_content ?? '').join('')).toBe('Thinking about about tests.');
  });

  it('lists a model', async () => {
    const res = await fetch(`${agent.base}/openai/v1/models`);
    expect(await res.json()).toMatchObject({ object: 'list', data: [{ id: 'dev-openai' }] });
  });
});

describe('dev agent: forwarding to an OpenAI-compatible API', () => {
  it('translates the upstream stream into UI chunks, with model and usage metadata', async () => {
    const forwarding = await startDevAgent({ port: 0, openaiBaseUrl: `${agent.base}/openai/v1` });
    try {
      const r = await ask('think: forwarding works', { url: forwarding.url });
      expect(text(r.chunks)).toBe('Fake model answer to: forwarding works');
      expect(types(r.chunks)).toContain('reasoning-start');
      expect(r.chunks).toContainEqual({
        type: 'message-metadata',
        messageMetadata: expect.objectContaining({
          model: 'gpt-4o-mini',
          usage: expect.objectContaining({ inputTokens: 3 }),
        }),
      });
      expect(r.chunks.at(-1)).toMatchObject({ type: 'finish' });
      await expectValidChunks(r.chunks);
      // `!dev` prompts stay deterministic even when forwarding.
      expect(deltas((await ask('!dev words=3', { url: forwarding.url })).chunks)).toHaveLength(3);
    } finally {
      await forwarding.close();
    }
  });
});

describe('dev agent: parts', () => {
  it('splits words so the pieces reassemble exactly', () => {
    for (const s of ['a b c', '  lead', 'trail  ', 'x\n\ny', '', '   ']) expect(splitWords(s).join('')).toBe(s);
    expect(splitWords('one two  three')).toEqual(['one ', 'two  ', 'three']);
  });

  it('parses !dev options only on the first line', () => {
    expect(parseDevPrompt('hello\n!dev words=3')).toEqual({ options: null, prompt: 'hello\n!dev words=3' });
    expect(parseDevPrompt('!dev words=3 echo\r\nthe prompt')).toEqual({
      options: { words: 3, echo: true },
      prompt: 'the prompt',
    });
    expect(parseDevPrompt('!devious')).toEqual({ options: null, prompt: '!devious' });
  });

  it('calculates with precedence, powers, signs and parentheses, without eval', () => {
    expect(calculate('1 + 2 * 3')).toBe(7);
    expect(calculate('(1 + 2) * 3')).toBe(9);
    expect(calculate('2^3^2')).toBe(512);
    expect(calculate('2**10')).toBe(1024);
    expect(calculate('-2^2')).toBe(-4);
    expect(calculate('--3')).toBe(3);
    expect(calculate('7 % 4 - 10 / 4')).toBe(0.5);
    expect(calculate('1.5e3 + .5')).toBe(1500.5);
    for (const bad of ['', '1 +', '(1', '1)', '2 3', 'process.exit()', 'constructor', '1/0', '5%0', '9^999']) {
      expect(() => calculate(bad), bad).toThrow(CalcError);
    }
    expect(() => calculate(`${'('.repeat(80)}1${')'.repeat(80)}`)).toThrow(CalcError);
  });
});

describe('dev agent: resumable runs (SPEC §6)', () => {
  it('says X-Resumable, replays a kept key, and resumes it from chunk n exactly', async () => {
    const key = { 'idempotency-key': `resume-${Date.now()}` };
    const first = await ask('!dev words=6 calc=1+1', { headers: key });
    expect(first.headers.get('x-resumable')).toBe('true');
    expect((await ask('!dev words=6 calc=1+1', { headers: key })).chunks).toEqual(first.chunks);
    const resumed = await ask('!dev words=6 calc=1+1', { headers: { ...key, 'x-resume-from': '5' } });
    expect(resumed.chunks).toEqual(first.chunks.slice(5));
    expect(resumed.done).toBe(true);
  });

  it('refuses to resume a key it does not keep with 409 cannot_resume', async () => {
    const r = await ask('!dev words=3', { headers: { 'idempotency-key': 'never-seen', 'x-resume-from': '2' } });
    expect(r.status).toBe(409);
  });
});
