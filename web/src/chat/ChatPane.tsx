import type { LiveConversation } from '@agent-chat/client';
import { useEffect, useSyncExternalStore } from 'react';
import { Composer } from './Composer';
import { ConnectionBadge } from './ConnectionBadge';
import { MessageList } from './MessageList';
import { NoticeBar } from './NoticeBar';

export function ChatPane({ store }: { store: LiveConversation }) {
  const snapshot = useSyncExternalStore(store.subscribe, store.getSnapshot);
  const title = snapshot.conversation?.title ?? (snapshot.conversationId ? '' : 'New chat');

  useEffect(() => {
    document.title = title ? `${title} · Agent chat` : 'Agent chat';
  }, [title]);

  if (snapshot.missing) {
    return (
      <main className="chat-pane">
        <div className="empty-state" role="alert">
          <h1>Conversation not found</h1>
          <p>It was deleted, or it belongs to someone else.</p>
          <a href="/">Start a new chat</a>
        </div>
      </main>
    );
  }

  if (snapshot.signedOut) {
    return (
      <main className="chat-pane">
        <div className="empty-state" role="alert">
          <h1>You are signed out</h1>
          <p>No sign-in could be obtained for the chat ({snapshot.signedOut.message}).</p>
          <button type="button" onClick={() => store.reconnect()}>
            Try again
          </button>
        </div>
      </main>
    );
  }

  return (
    <main className="chat-pane" aria-busy={!snapshot.historyLoaded}>
      <header className="chat-header">
        <h1 className="chat-title">{title || '…'}</h1>
        <ConnectionBadge link={snapshot.link} />
      </header>
      <NoticeBar notice={snapshot.notice} onDismiss={() => store.dismissNotice()} />
      <MessageList store={store} snapshot={snapshot} />
      <Composer store={store} snapshot={snapshot} />
    </main>
  );
}
