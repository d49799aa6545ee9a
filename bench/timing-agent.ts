/**
 * The benchmarks' agent: answers like the dev agent (`!dev words=N delay_ms=M`, each delta `wK `) and notes
 * when the request arrived and when it wrote chunk K. It runs in its own process, as AgentCore does: sharing
 * the clients' event loop would charge the agent's work to the relay and the clients' work to the agent.
 * Both processes read the same wall clock (`performance.timeOrigin + performance.now()`).
 *
 *   POST /v1/agent      the AgentCore bridge (SSE)
 *   GET  /runs/<id>     what it noted for the reply <id>, 404 until it has seen it
 */
import { fork } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { keepConnectionsLongerThanClients } from '../dev/keep-alive';

export const now = () => performance.timeOrigin + performance.now();

export interface AgentRun {
  arrivedAt: number;
  firstChunkAt?: number;
  emits: number[];
}

export interface TimingAgent {
  url: string;
  /** What the agent noted for a reply, once it has finished writing it. */
  run(messageId: string): Promise<AgentRun | undefined>;
  close(): Promise<void>;
}

/** Starts the agent in a child process and waits for its port. */
export async function startTimingAgent(): Promise<TimingAgent> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve'], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`the timing agent exited (code ${code})`)));
  });
  const base = `http://127.0.0.1:${port}`;
  return {
    url: `${base}/v1/agent`,
    async run(messageId) {
      const res = await fetch(`${base}/runs/${messageId}`);
      return res.ok ? ((await res.json()) as AgentRun) : undefined;
    },
    close: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill();
      }),
  };
}

function serve(): void {
  const runs = new Map<string, AgentRun>();
  const server = createServer((req, res) => {
    const found = /^\/runs\/(.+)$/.exec(req.url ?? '');
    if (req.method === 'GET' && found) {
      const run = runs.get(found[1] ?? '');
      res.writeHead(run ? 200 : 404, { 'content-type': 'application/json' }).end(JSON.stringify(run ?? null));
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(404).end();
      return;
    }
    answer(req, res, runs).catch(() => res.destroy());
  });
  keepConnectionsLongerThanClients(server);
  server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
  process.on('disconnect', () => process.exit(0));
}

async function answer(req: IncomingMessage, res: ServerResponse, runs: Map<string, AgentRun>): Promise<void> {
  const arrivedAt = now();
  let body = '';
  for await (const piece of req) body += piece;
  const turn = JSON.parse(body) as { message_id: string; messages: Array<{ parts: Array<{ text?: string }> }> };
  const prompt = turn.messages.at(-1)?.parts[0]?.text ?? '';
  const words = Number(/words=(\d+)/.exec(prompt)?.[1] ?? 5);
  const delay = Number(/delay_ms=(\d+)/.exec(prompt)?.[1] ?? 0);
  const run: AgentRun = { arrivedAt, emits: [] };
  runs.set(turn.message_id, run);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'x-vercel-ai-ui-message-stream': 'v1' });
  res.socket?.setNoDelay(true);
  const write = (chunk: unknown) => res.write(`data: ${JSON.stringify(chunk)}\n\n`);
  write({ type: 'start' });
  write({ type: 'text-start', id: 't' });
  for (let k = 0; k < words; k++) {
    if (delay > 0) await sleep(delay);
    run.emits[k] = now();
    run.firstChunkAt ??= run.emits[k];
    write({ type: 'text-delta', id: 't', delta: `w${k} ` });
  }
  write({ type: 'text-end', id: 't' });
  write({ type: 'finish' });
  res.end('data: [DONE]\n\n');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

if (process.argv.includes('--serve')) serve();
