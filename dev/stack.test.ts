import { readFile, rm, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './ports';
import { alive, commandLine, descendants } from './processes';
import { makeTempDataDir, parseVars, ROOT, readDevVars, type Stack, startStack } from './stack';

async function readyz(stack: Stack): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${stack.url}/readyz`);
  return { status: res.status, body: await res.json() };
}

/** The Worker probes readiness at most every 5 s: a change shows within that (plus one probe). */
async function readyzTurns(stack: Stack, status: number): Promise<{ status: number; body: unknown }> {
  const deadline = Date.now() + 9_000;
  for (;;) {
    const answer = await readyz(stack);
    if (answer.status === status || Date.now() > deadline) return answer;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('startStack', () => {
  let stack: Stack;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await makeTempDataDir('agent-chat-stack-test-');
    stack = await startStack({ port: 0, dataDir, quiet: true });
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('serves the page and a ready API on one origin', async () => {
    expect(await readyz(stack)).toMatchObject({
      status: 200,
      body: { status: 'ok', checks: { postgres: 'ok', agentcore: 'ok' } },
    });
    const page = await fetch(`${stack.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
  });

  it('mints dev tokens the Worker accepts, and the Worker refuses a forged one', async () => {
    const token = await stack.devToken('stack-test-user');
    const ok = await fetch(`${stack.url}/api/v1/chat/conversations`, { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    const forged = `${token.slice(0, -4)}AAAA`;
    const refused = await fetch(`${stack.url}/api/v1/chat/conversations`, {
      headers: { authorization: `Bearer ${forged}` },
    });
    expect(refused.status).toBe(401);
  });

  it("tells where workerd itself serves the Worker, behind wrangler's proxy", async () => {
    const direct = stack.directUrl();
    expect(direct).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(direct).not.toBe(stack.url);
    const token = await stack.devToken('direct-user');
    const res = await fetch(`${direct}/api/v1/chat/conversations`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
  });

  it('stops and restarts Postgres on the same port and data', async () => {
    const token = await stack.devToken('outage-user');
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const created = await fetch(`${stack.url}/api/v1/chat/conversations`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ title: 'before the outage' }),
    });
    expect(created.status).toBe(201);

    await stack.postgres.stop();
    expect((await readyzTurns(stack, 503)).body).toMatchObject({ checks: { postgres: 'down' } });
    await stack.postgres.start();
    expect((await readyzTurns(stack, 200)).status).toBe(200);
  });

  it('keeps one version of the Worker: a reply streaming while a source file changes is not cut off', async () => {
    // wrangler dev rebuilds and restarts workerd on any change under its root; a quiet stack serves a copy.
    const token = await stack.devToken('edit-user');
    const res = await fetch(`${stack.url}/api/v1/chat/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ content: '!dev words=120 delay_ms=50', client_message_id: crypto.randomUUID() }),
    });
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = decoder.decode((await reader.read()).value, { stream: true });
    const touched = new Date();
    await utimes(join(ROOT, 'worker', 'index.ts'), touched, touched);
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    expect(text).toContain('"type":"finish"');
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
  });

  it('runs workerd without the devtools inspector, which would slow every fetch the Worker makes', () => {
    const workerd = descendants(process.pid).filter((pid) => commandLine(pid).includes('workerd'));
    expect(workerd.length).toBeGreaterThan(0);
    for (const pid of workerd) expect(commandLine(pid)).not.toMatch(/inspector-addr/);
  });

  it('stops every process it started', async () => {
    const ours = descendants(process.pid).filter((pid) => /postgres|workerd|wrangler/.test(commandLine(pid)));
    expect(ours.some((pid) => commandLine(pid).includes('workerd'))).toBe(true);
    expect(ours.some((pid) => commandLine(pid).includes(dataDir))).toBe(true);
    await stack.stop();
    expect(alive(ours)).toEqual([]);
  });
});

describe('startStack with an inspector port', () => {
  it('serves devtools there', async () => {
    const dataDir = await makeTempDataDir('agent-chat-inspect-test-');
    const inspectorPort = await freePort();
    const stack = await startStack({ port: 0, dataDir, quiet: true, inspectorPort });
    try {
      const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json()) as unknown[];
      expect(targets.length).toBeGreaterThan(0);
    } finally {
      await stack.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('the tests’ settings', () => {
  it('come from a file of their own, never the developer’s .dev.vars', async () => {
    const file = process.env.AGENTCHAT_DEV_VARS ?? '';
    expect(file).not.toMatch(/(^|\/)\.dev\.vars$/);
    const vars = await readDevVars();
    expect(vars).toEqual(parseVars(await readFile(file, 'utf8')));
    expect(vars.DATABASE_URL).toBeUndefined();
    expect(vars.AGENTCORE_URL).toBeUndefined();
    expect(vars.AUTH_JWT_SECRET?.length).toBeGreaterThanOrEqual(32);
  });
});

describe('parseVars', () => {
  it('reads KEY=VALUE lines, quotes and comments, and drops empty values', () => {
    const vars = parseVars(
      ['# comment', 'A=1', 'B="two words"', "C='x#y'", 'D=plain # trailing', 'E=', 'export F=f', 'not a line'].join(
        '\n',
      ),
    );
    expect(vars).toEqual({ A: '1', B: 'two words', C: 'x#y', D: 'plain', F: 'f' });
  });
});
