import { AgentChat, ChatRoot, SharedConversationView } from '@agent-chat/react';
import { useCallback, useEffect, useState } from 'react';
import { currentSession, laterHostSession, type Session, signOut } from './auth';
import { conversationIdFrom, conversationPath, navigate, shareIdFrom, usePath } from './router';
import { SignIn } from './SignIn';

/** The server's ALLOWED_IMAGE_ORIGINS, written into the page by the Worker (worker/page.ts). */
const IMAGE_ORIGINS =
  document
    .querySelector<HTMLMetaElement>('meta[name="agent-chat-image-origins"]')
    ?.content.split(/\s+/)
    .filter(Boolean) ?? [];

/** The standalone page: a shared conversation at /s/<id> with no sign-in; else the signed-in chat. */
export function App() {
  const shareId = shareIdFrom(usePath());
  if (shareId) return <SharedConversationView shareId={shareId} allowedImageOrigins={IMAGE_ORIGINS} />;
  return <SignedInApp />;
}

/** A session (the host's token, or dev sign-in), the URL as the router, and the whole chat. */
function SignedInApp() {
  const [session, setSession] = useState<Session | null>(currentSession);
  const [expired, setExpired] = useState<string | null>(null);

  // The sign-in form shows at once; a host script that sets window.AgentChat a moment later still wins.
  useEffect(() => {
    if (session) return;
    let current = true;
    void laterHostSession().then((host) => {
      if (current && host) setSession(host);
    });
    return () => {
      current = false;
    };
  }, [session]);

  const onUnauthorized = useCallback(() => {
    signOut();
    setExpired('Your sign-in is no longer valid. Sign in again to continue.');
    setSession(null);
  }, []);

  if (!session) {
    return (
      <ChatRoot>
        <SignIn
          reason={expired}
          onSignedIn={(s) => {
            setExpired(null);
            setSession(s);
          }}
        />
      </ChatRoot>
    );
  }
  return (
    <ChatPage
      session={session}
      onUnauthorized={onUnauthorized}
      onSignOut={() => {
        signOut();
        setSession(null);
      }}
    />
  );
}

interface ChatPageProps {
  session: Session;
  onUnauthorized(): void;
  onSignOut(): void;
}

function ChatPage({ session, onUnauthorized, onSignOut }: ChatPageProps) {
  const path = usePath();
  const activeId = conversationIdFrom(path);

  useEffect(() => {
    if (path !== '/' && !activeId) navigate('/', { replace: true });
  }, [path, activeId]);

  return (
    <AgentChat
      baseUrl=""
      allowedImageOrigins={IMAGE_ORIGINS}
      getToken={session.getToken}
      onUnauthorized={onUnauthorized}
      conversationId={activeId}
      onConversationChange={(id) => navigate(conversationPath(id))}
      hrefFor={conversationPath}
      headerEnd={
        <>
          {session.user && <span>{session.user}</span>}
          {session.source === 'dev' && (
            <button type="button" className="link" onClick={onSignOut}>
              Sign out
            </button>
          )}
        </>
      }
    />
  );
}
