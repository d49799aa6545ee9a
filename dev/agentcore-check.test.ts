import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevAgent, startDevAgent } from './agentcore';
import { CHECKS, type CheckReport, checkAgentCore } from './agentcore-check';
import { type AiSdkRoute, startAiSdkRoute } from './ai-sdk-route';
import { type PythonBridge, startPythonBridge } from './python-bridge';

const TOKEN = 'check-token';
let dev: DevAgent;
let route: AiSdkRoute;
let python: PythonBridge;
let broken: { url: string; server: Server };

beforeAll(async () => {
  process.env.DEV_AGENT_TOKEN = TOKEN;
  dev = await startDevAgent({ port: 0, replyDelayMs: 0 }).finally(() => {
    delete process.env.DEV_AGENT_TOKEN;
  });
  route = await startAiSdkRoute({ token: TOKEN });
  python = await startPythonBridge({ token: TOKEN });
  broken = await startBrokenAgent();
});
afterAll(async () => {
  await Promise.all([dev?.close(), route?.close(), python?.close()]);
  broken?.server.closeAllConnections();
  broken?.server.close();
});

/**
 * An agent that breaks the protocol: a text delta before its start, a tool output before its input, a chunk type
 * the protocol does not have, no finish; it serves anyone, and writes its events cut in two across writes.
 */
async function startBrokenAgent(): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    req.resume();
    req.once('end', async () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const events = [
        { type: 'start' },
        { type: 'text-delta', id: 't1', delta: 'hello' },
        { type: 'tool-output-available', toolCallId: 'c1', output: 1 },
        { type: 'banana' },
      ].map((e) => `data: ${JSON.stringify(e)}\n\n`);
      for (const event of events) {
        const half = Math.floor(event.length / 2);
        await new Promise((r) => res.write(event.slice(0, half), r));
        await new Promise((r) => setTimeout(r, 5));
        await new Promise((r) => res.write(event.slice(half), r));
      }
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/agent`, server };
}

const byName = (report: CheckReport) => Object.fromEntries(report.lines.map((l) => [l.name, l]));

describe('npm run agentcore:check', () => {
  it('passes the dev agent, which is resumable', async () => {
    const report = await checkAgentCore({ url: dev.url, token: TOKEN });
    expect(report.lines.filter((l) => l.ok !== true)).toEqual([]);
    expect(report.resumable).toBe(true);
  });

  it('passes the unchanged AI SDK route, which is not resumable', async () => {
    const report = await checkAgentCore({ url: route.url, token: TOKEN });
    expect(report.ok).toBe(true);
    expect(report.resumable).toBe(false);
    expect(byName(report)[CHECKS.resume]).toMatchObject({ ok: null, detail: expect.stringContaining('not resumable') });
    expect(report.lines.filter((l) => l.ok === null)).toHaveLength(1);
  });

  it('passes the Python bridge, which is resumable and cancels an aborted run', async () => {
    const report = await checkAgentCore({ url: python.url, token: TOKEN });
    expect(report.lines.filter((l) => l.ok !== true)).toEqual([]);
    expect(byName(report)[CHECKS.abort]?.detail).toContain('the aborted run was cancelled');
  });

  it('fails a broken agent, saying why on each line', async () => {
    const lines = byName(await checkAgentCore({ url: broken.url, token: TOKEN, timeoutMs: 5_000 }));
    expect(lines[CHECKS.accepted]?.ok).toBe(true);
    expect(lines[CHECKS.schema]).toMatchObject({ ok: false, detail: 'event 3: unknown chunk type "banana"' });
    expect(lines[CHECKS.order]).toMatchObject({
      ok: false,
      detail: 'chunk 1: text-delta for "t1" before its text-start',
    });
    expect(lines[CHECKS.ends]).toMatchObject({ ok: false, detail: expect.stringContaining('without finish') });
    expect(lines[CHECKS.split]).toMatchObject({
      ok: true,
      detail: expect.stringMatching(/^[1-9]\d* of 4 events arrived split/),
    });
    expect(lines[CHECKS.token]).toMatchObject({ ok: false, detail: 'answered HTTP 200 without a token' });
  });

  it('the command prints the report and exits 1 when a check fails, 0 when all pass', async () => {
    const run = (url: string) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn(process.execPath, [
          '--import',
          'tsx',
          'dev/agentcore-check.ts',
          '--url',
          url,
          '--token',
          TOKEN,
        ]);
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
        });
        child.once('exit', (code) => resolve({ code, out }));
      });
    const bad = await run(broken.url);
    expect(bad.code).toBe(1);
    expect(bad.out).toContain('✗ every chunk passes the protocol schema: event 3: unknown chunk type "banana"');
    const good = await run(python.url);
    expect(good.code).toBe(0);
    expect(good.out).toMatch(/all passed; resumable: yes; \d+ ms/);
    // Two cold `tsx` starts: under a loaded 2-core machine each took over 15 s.
  }, 120_000);
});
