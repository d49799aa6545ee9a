/**
 * A small React dashboard standing in for the existing one: its own navigation and routes, its own sign-in, and a
 * ChatPage that embeds agent-chat from the packed packages, on its own origin.
 */
import { AgentChat } from '@agent-chat/react';
import '@agent-chat/react/styles.css';
import { StrictMode, useCallback, useEffect, useState, useSyncExternalStore } from 'react';
import { createRoot } from 'react-dom/client';
import './host.css';

interface HostConfig {
  chatBaseUrl: string;
  authUrl: string;
}

const config = (await (await fetch('/config.json')).json()) as HostConfig;

/** The dashboard's session: a user name, and a token it renews shortly before it expires (or when asked). */
const session = {
  user: localStorage.getItem('dashboard.user'),
  token: null as { value: string; expiresAt: number } | null,
  async getToken(refresh: boolean): Promise<string | null> {
    if (!session.user) return null;
    if (!refresh && session.token && session.token.expiresAt - Date.now() > 2_000) return session.token.value;
    const res = await fetch(`${config.authUrl}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: session.user }),
    });
    if (!res.ok) throw new Error(`the auth service answered ${res.status}`);
    const { token, expires_in } = (await res.json()) as { token: string; expires_in: number };
    session.token = { value: token, expiresAt: Date.now() + expires_in * 1000 };
    return token;
  },
};

function subscribe(listener: () => void) {
  window.addEventListener('popstate', listener);
  return () => window.removeEventListener('popstate', listener);
}
const usePath = () => useSyncExternalStore(subscribe, () => location.pathname);
function go(path: string) {
  if (location.pathname === path) return;
  history.pushState(null, '', path);
  window.dispatchEvent(new PopStateEvent('popstate'));
}

function Link({ to, children }: { to: string; children: string }) {
  return (
    <a
      href={to}
      onClick={(e) => {
        e.preventDefault();
        go(to);
      }}
    >
      {children}
    </a>
  );
}

function ChatPage({ conversationId }: { conversationId: string | null }) {
  const getToken = useCallback(({ refresh }: { refresh: boolean }) => session.getToken(refresh), []);
  return (
    <AgentChat
      baseUrl={config.chatBaseUrl}
      getToken={getToken}
      theme="auto"
      conversationId={conversationId}
      onConversationChange={(id) => go(id ? `/chat/${id}` : '/chat')}
      hrefFor={(id) => `/chat/${id}`}
    />
  );
}

function SignIn() {
  const [user, setUser] = useState('');
  return (
    <form
      className="host-page"
      onSubmit={(e) => {
        e.preventDefault();
        localStorage.setItem('dashboard.user', user);
        session.user = user;
        go('/chat');
      }}
    >
      <h1>Dashboard sign-in</h1>
      <label>
        Name <input value={user} onChange={(e) => setUser(e.currentTarget.value)} />
      </label>
      <button type="submit">Sign in to the dashboard</button>
    </form>
  );
}

function Dashboard() {
  const path = usePath();
  const [dark, setDark] = useState(() => localStorage.getItem('dashboard.dark') === '1');
  useEffect(() => {
    document.documentElement.classList.toggle('dark', dark);
    localStorage.setItem('dashboard.dark', dark ? '1' : '0');
  }, [dark]);
  if (!session.user) return <SignIn />;
  const chat = /^\/chat(?:\/([0-9a-f-]{36}))?$/.exec(path);
  return (
    <div className="shell">
      <nav className="host-nav" aria-label="Dashboard">
        <Link to="/">Home</Link>
        <Link to="/chat">Chat</Link>
        <button type="button" onClick={() => setDark((d) => !d)}>
          {dark ? 'Light theme' : 'Dark theme'}
        </button>
      </nav>
      <main className="host-main">
        {chat ? (
          <ChatPage conversationId={chat[1] ?? null} />
        ) : (
          <div className="host-page">
            <h1>Welcome, {session.user}</h1>
          </div>
        )}
      </main>
    </div>
  );
}

const root = document.getElementById('app');
if (!root) throw new Error('#app is missing');
createRoot(root).render(
  <StrictMode>
    <Dashboard />
  </StrictMode>,
);
