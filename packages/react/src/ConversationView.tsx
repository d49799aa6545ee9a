import type { LiveConversation } from '@agent-chat/client';
import { useEffect, useSyncExternalStore } from 'react';
import { Composer } from './Composer';
import { ConnectionBadge } from './ConnectionBadge';
import { MessageList } from './MessageList';
import { preloadMarkdown } from './markdown/Markdown';
import { NoticeBar } from './NoticeBar';
import { SharedMark } from './SharedMark';
import { useStrings } from './strings';

interface ConversationViewProps {
  store: LiveConversation;
  onNewChat(): void;
  /** A message to scroll to and mark (a search result's). */
  foundId?: string | null;
}

/** The pane of one conversation: title, connection state, messages and composer, for a live conversation. */
export function ConversationView({ store, onNewChat, foundId = null }: ConversationViewProps) {
  const snapshot = useSyncExternalStore(store.subscribe, store.getSnapshot);
  const strings = useStrings();
  useEffect(preloadMarkdown, []);
  const title = snapshot.conversation?.title ?? (snapshot.conversationId ? '' : 'New chat');

  if (snapshot.missing) {
    return (
      <main className="chat-pane">
        <div className="empty-state" role="alert">
          <h1>Conversation not found</h1>
          <p>It was deleted, or it belongs to someone else.</p>
          <button type="button" className="link" onClick={onNewChat}>
            Start a new chat
          </button>
        </div>
      </main>
    );
  }

  if (snapshot.signedOut) {
    return (
      <main className="chat-pane">
        <div className="empty-state" role="alert">
          <h1>{strings.signedOutTitle}</h1>
          <p>
            {strings.signedOutBody} ({snapshot.signedOut.message})
          </p>
          <button type="button" onClick={() => store.reconnect()}>
            {strings.tryAgain}
          </button>
        </div>
      </main>
    );
  }

  return (
    <main
      className="chat-pane"
      aria-busy={!snapshot.historyLoaded}
      onKeyDown={(event) => {
        // Esc stops the reply that streams, from anywhere in the pane (the composer has the focus after a send).
        if (event.key !== 'Escape' || !snapshot.streaming) return;
        event.preventDefault();
        void store.stop();
      }}
    >
      <header className="chat-header">
        <h1 className="chat-title">{title || '…'}</h1>
        {snapshot.conversation?.shared && <SharedMark />}
        <ConnectionBadge link={snapshot.link} />
      </header>
      <NoticeBar notice={snapshot.notice} onDismiss={() => store.dismissNotice()} />
      <MessageList store={store} snapshot={snapshot} foundId={foundId} />
      <Composer store={store} snapshot={snapshot} />
    </main>
  );
}
