import { createChatClient, type LiveConversation } from '@agent-chat/client';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { findSession, type Session, signOut } from './auth';
import { ChatPane } from './chat/ChatPane';
import { preloadMarkdown } from './markdown/Markdown';
import { conversationIdFrom, conversationPath, navigate, usePath } from './router';
import { SignIn } from './SignIn';
import { Sidebar } from './sidebar/Sidebar';

export function App() {
  const [session, setSession] = useState<Session | null | 'loading'>('loading');
  const [expired, setExpired] = useState<string | null>(null);

  useEffect(() => {
    void findSession().then(setSession);
    preloadMarkdown();
  }, []);

  const onUnauthorized = useCallback(() => {
    signOut();
    setExpired('Your sign-in is no longer valid. Sign in again to continue.');
    setSession(null);
  }, []);

  if (session === 'loading') {
    return (
      <main className="splash" aria-busy="true">
        Loading…
      </main>
    );
  }
  if (!session) {
    return (
      <SignIn
        reason={expired}
        onSignedIn={(s) => {
          setExpired(null);
          setSession(s);
        }}
      />
    );
  }
  return (
    <ChatApp
      session={session}
      onUnauthorized={onUnauthorized}
      onSignOut={() => {
        signOut();
        setSession(null);
      }}
    />
  );
}

interface ChatAppProps {
  session: Session;
  onUnauthorized(): void;
  onSignOut(): void;
}

function ChatApp({ session, onUnauthorized, onSignOut }: ChatAppProps) {
  const api = useMemo(
    () => createChatClient({ baseUrl: '', getToken: () => session.getToken(), onUnauthorized }),
    [session, onUnauthorized],
  );
  const index = useMemo(() => api.conversationIndex(), [api]);
  const path = usePath();
  const activeId = conversationIdFrom(path);
  const [store, setStore] = useState<LiveConversation | null>(null);
  const [drawerOpen, setDrawerOpen] = useState(false);
  /** A new chat's store, kept across the navigation its first reply triggers. */
  const handoff = useRef<LiveConversation | null>(null);

  useEffect(() => {
    if (path !== '/' && !activeId) navigate('/', { replace: true });
  }, [path, activeId]);

  useEffect(() => {
    void index.loadMore();
    const refresh = () => void index.refresh();
    window.addEventListener('focus', refresh);
    return () => window.removeEventListener('focus', refresh);
  }, [index]);

  useEffect(() => {
    const adopted = handoff.current?.id === activeId ? handoff.current : null;
    handoff.current = null;
    const next: LiveConversation =
      adopted ??
      api.live(activeId, {
        created: (id) => {
          handoff.current = next;
          void index.add(id);
          navigate(conversationPath(id));
        },
        conversation: (c) => index.upsert(c),
        activity: (id, at, streaming) => index.touch(id, at, streaming),
        deleted: (id) => index.forget(id),
      });
    setStore(next);
    if (!adopted) void next.start();
    return () => {
      if (handoff.current !== next) next.dispose();
    };
  }, [api, index, activeId]);

  return (
    <div className={`app${drawerOpen ? ' drawer-open' : ''}`}>
      <header className="topbar">
        <button
          type="button"
          className="drawer-toggle"
          aria-expanded={drawerOpen}
          aria-controls="sidebar"
          onClick={() => setDrawerOpen((open) => !open)}
        >
          ☰ <span className="visually-hidden">Conversations</span>
        </button>
        <span className="brand">Agent chat</span>
        <span className="who">
          {session.user && <span>{session.user}</span>}
          {session.source === 'dev' && (
            <button type="button" className="link" onClick={onSignOut}>
              Sign out
            </button>
          )}
        </span>
      </header>
      <div id="sidebar" className="sidebar-wrap">
        <Sidebar index={index} activeId={activeId} onNavigate={() => setDrawerOpen(false)} />
      </div>
      {store && <ChatPane key={store.instance} store={store} />}
    </div>
  );
}
