import {
  type ChatItem,
  SharedConversation,
  type SharedLinkState,
  type SharedMessage,
  type SharedSnapshot,
} from '@agent-chat/client';
import { useEffect, useMemo, useRef, useSyncExternalStore } from 'react';
import { type ChatLookProps, ChatRoot } from './ChatRoot';
import { MessageView } from './MessageView';
import { preloadMarkdown } from './markdown/Markdown';

export interface SharedConversationViewProps extends ChatLookProps {
  /** The share id of the link (`/s/{share_id}`). */
  shareId: string;
  /** Where the API is: '' (default) for the page's own origin. */
  baseUrl?: string;
}

const STATE_LABELS: Record<SharedLinkState, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  gone: 'Unavailable',
};

function writtenItem(m: SharedMessage, n: number): ChatItem {
  return {
    key: `written-${n}`,
    id: null,
    role: m.role,
    parts: m.parts,
    text: m.content,
    status: 'complete',
    error: null,
    clientMessageId: null,
    parentId: null,
    branch: null,
    feedback: null,
  };
}

function items(snapshot: SharedSnapshot): ChatItem[] {
  const out = snapshot.messages.map(writtenItem);
  const reply = snapshot.reply;
  if (reply) {
    out.push({
      // The same key the written reply gets, so the bubble is not remounted when it is written.
      key: `written-${out.length}`,
      id: null,
      role: 'assistant',
      parts: reply.parts,
      text: '',
      status: reply.ended ? 'complete' : 'streaming',
      error: null,
      clientMessageId: null,
      parentId: null,
      branch: null,
      feedback: null,
    });
  }
  return out;
}

/**
 * A conversation shared by its public link, read-only and live (SPEC §10): no sign-in, no composer; the reply being
 * written streams in as the owner sees it, and new messages appear. The messages are drawn by the chat's own
 * components, so a shared reply reads exactly as it did for its owner.
 */
export function SharedConversationView({ shareId, baseUrl = '', ...look }: SharedConversationViewProps) {
  const feed = useMemo(() => new SharedConversation({ shareId, baseUrl }), [shareId, baseUrl]);
  useEffect(() => () => feed.close(), [feed]);
  useEffect(preloadMarkdown, []);
  const snapshot = useSyncExternalStore(feed.subscribe, feed.getSnapshot);
  const list = items(snapshot);
  const streaming = snapshot.reply !== null && !snapshot.reply.ended;
  const bottom = useRef<HTMLDivElement>(null);
  // biome-ignore lint/correctness/useExhaustiveDependencies: follow the text as it grows
  useEffect(() => {
    bottom.current?.scrollIntoView({ block: 'end' });
  }, [snapshot]);

  if (snapshot.state === 'gone') {
    return (
      <ChatRoot {...look}>
        <main className="chat-pane shared">
          <div className="empty-state" role="alert">
            <h1>This shared conversation is not available</h1>
            <p>The link was stopped by its owner, the conversation was deleted, or the link is mistyped.</p>
          </div>
        </main>
      </ChatRoot>
    );
  }

  return (
    <ChatRoot {...look}>
      <main className="chat-pane shared" aria-busy={snapshot.state === 'connecting'}>
        <header className="chat-header">
          <h1 className="chat-title">{snapshot.conversation?.title ?? '…'}</h1>
          <output className={`connection shared-${snapshot.state}`} data-link={snapshot.state}>
            {STATE_LABELS[snapshot.state]}
          </output>
        </header>
        <p className="shared-note">A shared conversation, read-only. It updates live as the conversation goes on.</p>
        <div className="message-scroller">
          <div className="message-list" role="log" aria-label="Messages" aria-live="polite" aria-busy={streaming}>
            {snapshot.state !== 'connecting' && list.length === 0 && <p className="list-status">No messages yet.</p>}
            {list.map((item) => (
              <MessageView key={item.key} item={item} canRetry={false} />
            ))}
            <div ref={bottom} />
          </div>
        </div>
      </main>
    </ChatRoot>
  );
}
