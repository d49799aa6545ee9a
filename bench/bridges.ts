/**
 * Bridge overhead per reply: the Python reference bridge (bridges/python, its stand-in AgentCore) against the dev
 * agent, each in its own process, asked the same replies over real HTTP as the Worker asks them. It prints, p50
 * and p99: request → first chunk (replies written with no delay), and per chunk the gap between consecutive
 * chunks of replies paced at PACE_MS a chunk, less that pace (what the agent's side adds to each relayed chunk;
 * unpaced chunks arrive several to a network read, which hides it). Figures only; it asserts nothing.
 *
 *   npx tsx bench/bridges.ts [replies=200] [words=50]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { freePort } from '../dev/ports';
import { startPythonBridge } from '../dev/python-bridge';
import { sseEvents } from '../dev/testing';

const replies = Number(process.argv[2] ?? 200);
const words = Number(process.argv[3] ?? 50);
const WARM_UP = 20;
const PACE_MS = 5;
const PACED_REPLIES = 20;

interface Sample {
  firstChunkMs: number;
  gapsMs: number[];
}

async function reply(url: string, delayMs = 0): Promise<Sample> {
  const id = randomUUID();
  const started = performance.now();
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'idempotency-key': id },
    body: JSON.stringify({
      id: 'bench',
      messages: [{ id: 'u', role: 'user', parts: [{ type: 'text', text: `!dev words=${words} delay_ms=${delayMs}` }] }],
      trigger: 'submit-message',
      conversation_id: 'bench',
      user_id: 'bench',
      message_id: id,
    }),
  });
  let first = 0;
  let last = 0;
  const gapsMs: number[] = [];
  for await (const _event of sseEvents(res)) {
    const at = performance.now();
    if (!first) first = at;
    else gapsMs.push(at - last);
    last = at;
  }
  return { firstChunkMs: first - started, gapsMs };
}

async function measure(url: string): Promise<{ first: number[]; gaps: number[] }> {
  for (let i = 0; i < WARM_UP; i++) await reply(url);
  const first: number[] = [];
  const gaps: number[] = [];
  for (let i = 0; i < replies; i++) first.push((await reply(url)).firstChunkMs);
  for (let i = 0; i < PACED_REPLIES; i++) gaps.push(...(await reply(url, PACE_MS)).gapsMs.map((g) => g - PACE_MS));
  return { first, gaps };
}

function pct(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

const fmt = (ms: number) => `${ms.toFixed(2)} ms`;

async function startDevAgentProcess(): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'dev/agentcore.ts'], {
    env: { ...process.env, PORT: String(port), DEV_AGENT_TOKEN: '' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve) => child.stdout?.once('data', () => resolve()));
  return { url: `http://127.0.0.1:${port}/v1/agent`, child };
}

const dev = await startDevAgentProcess();
const python = await startPythonBridge();
try {
  const results = { 'dev agent (Node)': await measure(dev.url), 'Python bridge': await measure(python.url) };
  console.log(
    `p50 / p99 of ${replies} replies of ${words} words (first chunk) and of ${PACED_REPLIES * words} chunks paced ` +
      `${PACE_MS} ms apart, less the pace (per chunk); after ${WARM_UP} replies to warm up`,
  );
  for (const [name, r] of Object.entries(results)) {
    console.log(
      `  ${name.padEnd(18)} first chunk ${fmt(pct(r.first, 50))} / ${fmt(pct(r.first, 99))}   ` +
        `per chunk ${fmt(pct(r.gaps, 50))} / ${fmt(pct(r.gaps, 99))}`,
    );
  }
  const [d, p] = Object.values(results);
  if (d && p) {
    console.log(
      `  Python − dev         first chunk ${fmt(pct(p.first, 50) - pct(d.first, 50))} / ${fmt(pct(p.first, 99) - pct(d.first, 99))}   ` +
        `per chunk ${fmt(pct(p.gaps, 50) - pct(d.gaps, 50))} / ${fmt(pct(p.gaps, 99) - pct(d.gaps, 99))}`,
    );
  }
} finally {
  dev.child.kill('SIGTERM');
  await python.close();
}
