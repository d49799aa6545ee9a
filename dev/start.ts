import { PostgresStartError } from './postgres';
import { StackError, startStack } from './stack';

/**
 * `npm start`: the whole product on http://127.0.0.1:PORT (default 8787) as one process tree.
 * Ctrl-C / SIGTERM stop wrangler, the dev agent, the proxy and Postgres, in that order, and exit.
 */
const started = performance.now();
const abort = new AbortController();
let exiting = false;

const starting = startStack({
  dataDir: process.env.AGENTCHAT_DATA_DIR || undefined,
  inspectorPort: inspectorPort(process.env.INSPECTOR_PORT),
  signal: abort.signal,
  onExit: (what) => {
    console.error(what);
    void shutdown(1);
  },
});

/** INSPECTOR_PORT=9229 opens the devtools inspector there; it is off by default because it slows every fetch. */
function inspectorPort(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    console.error(`INSPECTOR_PORT must be a port number, not "${value}"`);
    process.exit(1);
  }
  return port;
}

async function shutdown(code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  // A start still under way stops at its next step and cleans up after itself; a finished one we stop.
  abort.abort();
  const stack = await starting.catch(() => undefined);
  if (stack) {
    console.log('stopping…');
    await stack.stop();
  }
  process.exit(code);
}

// Started by another Node process with an IPC channel (a test): its end is our end, even if it was SIGKILLed.
if (process.connected) process.on('disconnect', () => void shutdown(0));

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  // npm, tsx and the terminal may each deliver the same Ctrl-C; the first one starts the shutdown.
  process.on(signal, () => void shutdown(0));
}

try {
  const stack = await starting;
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const steps = Object.entries(stack.timings)
    .map(([name, ms]) => `${name} ${(ms / 1000).toFixed(1)} s`)
    .join(', ');
  const token = await stack.devToken('dev-user');
  console.log(`
agent-chat is running at ${stack.url}   (ready in ${seconds} s: ${steps})

  export TOKEN=${token}
  curl -H "authorization: Bearer $TOKEN" ${stack.url}/api/v1/chat/conversations
  (a dev token for user dev-user, valid 12 h; ${stack.url}/readyz says whether Postgres and the agent answer)

Ctrl-C stops everything.`);
} catch (err) {
  if (!exiting) {
    const known = err instanceof StackError || err instanceof PostgresStartError;
    console.error(known ? err.message : `npm start failed: ${err instanceof Error ? (err.stack ?? err.message) : err}`);
    process.exit(1);
  }
}
