/**
 * Where the page's bearer token comes from.
 *
 * Production: the host dashboard sets `window.AgentChat = { getToken }` before this page's script runs
 * (or within a second of it); the page asks it for a token before every request, so the host owns caching
 * and refresh. Development (DEV_AUTH on the server): a dev login form mints a token for a chosen user name.
 */

export interface AgentChatHost {
  getToken(): Promise<string>;
}

declare global {
  interface Window {
    AgentChat?: AgentChatHost;
  }
}

export interface Session {
  /** Who is signed in, for the header; the host may not tell us, so it is optional. */
  user: string | null;
  source: 'host' | 'dev';
  getToken(): Promise<string>;
}

const DEV_SESSION_KEY = 'agent-chat.dev-session';

interface DevSession {
  token: string;
  user: string;
}

function isDevSession(value: unknown): value is DevSession {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.token === 'string' && typeof v.user === 'string';
}

function devSession(stored: DevSession): Session {
  return { user: stored.user, source: 'dev', getToken: async () => stored.token };
}

function readDevSession(): DevSession | null {
  try {
    const raw = localStorage.getItem(DEV_SESSION_KEY);
    if (!raw) return null;
    const parsed: unknown = JSON.parse(raw);
    return isDevSession(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

/** The host's token provider, waiting briefly because a host script may load after ours. */
async function waitForHost(timeoutMs: number): Promise<AgentChatHost | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (window.AgentChat && typeof window.AgentChat.getToken === 'function') return window.AgentChat;
    if (Date.now() >= deadline) return null;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const hostSession = (host: AgentChatHost): Session => ({ user: null, source: 'host', getToken: () => host.getToken() });

/** The session known right now, without waiting: the host's token provider, else a stored dev session. */
export function currentSession(): Session | null {
  if (window.AgentChat && typeof window.AgentChat.getToken === 'function') return hostSession(window.AgentChat);
  const stored = readDevSession();
  return stored ? devSession(stored) : null;
}

/** The host's session if its script sets `window.AgentChat` within a second of ours. */
export async function laterHostSession(): Promise<Session | null> {
  const host = await waitForHost(1000);
  return host ? hostSession(host) : null;
}

export class DevLoginUnavailable extends Error {}

/** POST /api/v1/dev/login; only answers when the server runs with DEV_AUTH. */
export async function devLogin(user: string): Promise<Session> {
  const res = await fetch('/api/v1/dev/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user }),
  });
  if (res.status === 404) throw new DevLoginUnavailable('Dev login is turned off on this server.');
  if (!res.ok) throw new Error(`Dev login failed (HTTP ${res.status}).`);
  const body: unknown = await res.json();
  const token = typeof body === 'object' && body !== null ? (body as Record<string, unknown>).token : undefined;
  if (typeof token !== 'string') throw new Error('Dev login answered without a token.');
  const session = { token, user };
  localStorage.setItem(DEV_SESSION_KEY, JSON.stringify(session));
  return devSession(session);
}

export function signOut(): void {
  localStorage.removeItem(DEV_SESSION_KEY);
}
