import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from './ports.ts';

/** Shared by vitest.config.ts (bindings) and the global setup (servers): one place names the test stack. */
export const TEST_DATABASE = 'agentchat';
const ENV_KEY = 'AGENTCHAT_TEST_STACK';

export interface TestPorts {
  postgres: number;
  proxy: number;
  agent: number;
  jwks: number;
  control: number;
  secret: string;
  /** The test PostgreSQL's superuser password, random per run. */
  pgPassword: string;
}

/** Picks free ports once per vitest run and hands them to the global setup through process.env. */
export async function pickTestPorts(): Promise<TestPorts> {
  const existing = process.env[ENV_KEY];
  if (existing) return JSON.parse(existing) as TestPorts;
  const [postgres, proxy, agent, jwks, control] = await freePorts(5);
  if (!postgres || !proxy || !agent || !jwks || !control) throw new Error('could not pick free ports');
  const ports = {
    postgres,
    proxy,
    agent,
    jwks,
    control,
    secret: randomBytes(32).toString('base64url'),
    pgPassword: randomBytes(24).toString('base64url'),
  };
  process.env[ENV_KEY] = JSON.stringify(ports);
  return ports;
}

export function readTestPorts(): TestPorts {
  const existing = process.env[ENV_KEY];
  if (!existing) throw new Error(`${ENV_KEY} is not set: run the tests through vitest.config.ts`);
  return JSON.parse(existing) as TestPorts;
}

/**
 * The Worker's bindings in tests (SPEC §7 names), every setting spelled out: the pool also reads the
 * developer's .dev.vars (next to wrangler.toml), and these must win over it. tightRateLimits: bursts of 5 per user
 * and 3 per conversation (so a test can tell the two buckets apart), 10 other writes, and one a minute back, so that no test
 * sees a refill however slowly the machine runs it.
 */
export function workerBindings(
  p: TestPorts,
  opts: { tightRateLimits: boolean; shortLifetimes?: boolean; infoLogs?: boolean },
): Record<string, string> {
  const bindings: Record<string, string> = {
    DATABASE_URL: `postgres://postgres:${p.pgPassword}@127.0.0.1:${p.postgres}/${TEST_DATABASE}`,
    NEON_WS_PROXY: `127.0.0.1:${p.proxy}/v1`,
    AGENTCORE_URL: `http://127.0.0.1:${p.agent}/v1/agent`,
    AGENTCORE_TOKEN: 'dev-agent-token',
    TEST_AGENT_BASE: `http://127.0.0.1:${p.agent}`,
    AUTH_JWT_SECRET: p.secret,
    AUTH_ISSUER: 'agent-chat-dev',
    AUTH_AUDIENCE: 'agent-chat',
    DEV_AUTH: 'true',
    ALLOWED_ORIGINS: 'http://127.0.0.1:8787,http://localhost:8787',
    TEST_JWKS_BASE: `http://127.0.0.1:${p.jwks}`,
    TEST_CONTROL_URL: `http://127.0.0.1:${p.control}`,
    AGENTCORE_FIRST_CHUNK_TIMEOUT_MS: '3000',
    AGENTCORE_IDLE_TIMEOUT_MS: '2000',
    AGENTCORE_PROTOCOL: 'ui-stream',
    AGENTCORE_MODEL: 'gpt-4o-mini',
    AGENTCORE_HISTORY_LIMIT: '50',
    // tightRateLimits: 4 KiB of history, so a few messages show the byte bound (worker/agentcore/history.limits.test.ts).
    AGENTCORE_HISTORY_MAX_BYTES: opts.tightRateLimits ? '4096' : '1048576',
    // tightRateLimits: 256 KiB replies, 3 SSE readers 64 KiB behind at most, so tests reach each bound quickly.
    AGENTCORE_MAX_REPLY_BYTES: opts.tightRateLimits ? '262144' : '1048576',
    MAX_SOCKETS_PER_CONVERSATION: '64',
    MAX_SSE_READERS_PER_CONVERSATION: opts.tightRateLimits ? '3' : '64',
    SSE_MAX_LAG_BYTES: opts.tightRateLimits ? '65536' : '1048576',
    // shortLifetimes: tickets and silent sockets run out within seconds, so tests see it through the API.
    WS_TICKET_TTL_SECONDS: opts.shortLifetimes ? '1' : '60',
    WS_PING_TIMEOUT_SECONDS: opts.shortLifetimes ? '2' : '75',
    // shortLifetimes: a token is good for a minute after its iat, so a test can make one that runs out within seconds.
    ...(opts.shortLifetimes ? { AUTH_MAX_TOKEN_AGE_SECONDS: '60' } : {}),
    // infoLogs: the lines a reply or a socket writes at info, for the tests that read them (*.logs.test.ts).
    LOG_LEVEL: opts.infoLogs ? 'info' : 'warn',
  };
  const [perMinute, userBurst, conversationBurst] = opts.tightRateLimits
    ? (['1', '5', '3'] as const)
    : (['100000', '100000', '100000'] as const);
  bindings.RATE_LIMIT_USER_PER_MINUTE = perMinute;
  bindings.RATE_LIMIT_USER_BURST = userBurst;
  bindings.RATE_LIMIT_CONVERSATION_PER_MINUTE = perMinute;
  bindings.RATE_LIMIT_CONVERSATION_BURST = conversationBurst;
  // Other writes: a burst of 10, so a test's few creates pass and the 11th is refused.
  bindings.RATE_LIMIT_WRITES_PER_MINUTE = perMinute;
  bindings.RATE_LIMIT_WRITES_BURST = opts.tightRateLimits ? '10' : '100000';
  // Public share reads per client: a burst of 4, so a test sees the 5th refused.
  bindings.RATE_LIMIT_SHARED_PER_MINUTE = perMinute;
  bindings.RATE_LIMIT_SHARED_BURST = opts.tightRateLimits ? '4' : '100000';
  return bindings;
}

/**
 * Stacks started by tests (dev/stack.ts) read their settings from a file of their own, never the developer's
 * .dev.vars: a DATABASE_URL or AGENTCORE_URL set there would silently replace the test services, and a
 * missing one would be created in the working tree. The file is .dev.vars.example with a fresh secret; each
 * run writes its own, and AGENTCHAT_DEV_VARS hands it to every test process.
 */
export function isolateDevVars(): string {
  const example = readFileSync(new URL('../.dev.vars.example', import.meta.url), 'utf8');
  const secret = randomBytes(48).toString('base64url');
  const path = join(tmpdir(), `agent-chat-test-${process.pid}.vars`);
  writeFileSync(path, example.replace(/^AUTH_JWT_SECRET=.*$/m, `AUTH_JWT_SECRET=${secret}`), { mode: 0o600 });
  process.env.AGENTCHAT_DEV_VARS = path;
  return path;
}
