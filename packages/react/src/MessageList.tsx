import type { ChatSnapshot, LiveConversation } from '@agent-chat/client';
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';
import { MessageView } from './MessageView';

/** Within this many pixels of the bottom the list follows new text; further up, the person is reading. */
const STICK_PX = 48;
const LOAD_OLDER_PX = 160;

interface MessageListProps {
  store: LiveConversation;
  snapshot: ChatSnapshot;
  /** A message to bring into view (older pages are loaded until it is there) and mark: a search result's. */
  foundId?: string | null;
}

export function MessageList({ store, snapshot, foundId = null }: MessageListProps) {
  const scroller = useRef<HTMLDivElement>(null);
  const content = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  /** Where the view was before older messages were put above it, to keep it from jumping. */
  const anchor = useRef<{ height: number; top: number } | null>(null);
  const [awayFromBottom, setAwayFromBottom] = useState(false);
  const { items, hasOlder, loadingOlder, historyLoaded } = snapshot;

  const loadOlder = useCallback(() => {
    const el = scroller.current;
    if (!el || !hasOlder || loadingOlder) return;
    anchor.current = { height: el.scrollHeight, top: el.scrollTop };
    void store.loadOlder();
  }, [store, hasOlder, loadingOlder]);

  const onScroll = () => {
    const el = scroller.current;
    if (!el) return;
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < STICK_PX;
    setAwayFromBottom(!stick.current);
    if (el.scrollTop < LOAD_OLDER_PX) loadOlder();
  };

  const toBottom = useCallback(() => {
    const el = scroller.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, []);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el || !items) return;
    const kept = anchor.current;
    if (kept && !loadingOlder) {
      anchor.current = null;
      el.scrollTop = el.scrollHeight - kept.height + kept.top;
      return;
    }
    if (stick.current) toBottom();
  }, [items, loadingOlder, toBottom]);

  // Markdown and highlighting render after the text arrives and grow the list; keep following them.
  useEffect(() => {
    const node = content.current;
    if (!node) return;
    const observer = new ResizeObserver(() => {
      if (stick.current && !anchor.current) toBottom();
    });
    observer.observe(node);
    return () => observer.disconnect();
  }, [toBottom]);

  // A short first page does not fill the view, so scrolling up can never ask for more.
  useEffect(() => {
    const el = scroller.current;
    if (el && historyLoaded && hasOlder && !loadingOlder && el.scrollHeight <= el.clientHeight) loadOlder();
  }, [historyLoaded, hasOlder, loadingOlder, loadOlder]);

  // Once per found message: look for it in what is loaded, load older pages while it is not, then show it.
  const shownFound = useRef<string | null>(null);
  // biome-ignore lint/correctness/useExhaustiveDependencies: items: the found message may have just been rendered
  useEffect(() => {
    if (!foundId || shownFound.current === foundId || !historyLoaded || loadingOlder) return;
    const node = content.current?.querySelector(`[data-message-id="${CSS.escape(foundId)}"]`);
    if (node) {
      shownFound.current = foundId;
      stick.current = false;
      setAwayFromBottom(true);
      node.scrollIntoView({ block: 'center' });
      return;
    }
    if (hasOlder) void store.loadOlder();
  }, [foundId, items, historyLoaded, hasOlder, loadingOlder, store]);

  const lastAssistant = items.findLast((item) => item.role === 'assistant');

  return (
    <div className="message-scroller" ref={scroller} onScroll={onScroll}>
      <div
        className="message-list"
        ref={content}
        role="log"
        aria-label="Messages"
        aria-live="polite"
        // Busy while a reply streams, so a screen reader announces it once, finished, not word by word.
        aria-busy={snapshot.streaming}
      >
        {hasOlder && (
          <div className="older">
            <button type="button" className="link" onClick={loadOlder} disabled={loadingOlder}>
              {loadingOlder ? 'Loading older messages…' : 'Load older messages'}
            </button>
          </div>
        )}
        {historyLoaded && items.length === 0 && (
          <div className="empty-state">
            <h2>Ask the agent anything</h2>
            <p>Replies stream in as they are written. Your conversations are kept in the list on the left.</p>
          </div>
        )}
        {!historyLoaded && <p className="list-status">Loading messages…</p>}
        {items.map((item) => (
          <MessageView
            key={item.key}
            item={item}
            canRetry={!snapshot.streaming && (item.status === 'failed' || item === lastAssistant)}
            busy={snapshot.streaming}
            found={item.id !== null && item.id === foundId}
            store={store}
          />
        ))}
      </div>
      {awayFromBottom && (
        <button
          type="button"
          className="jump"
          onClick={() => {
            stick.current = true;
            setAwayFromBottom(false);
            toBottom();
          }}
        >
          ↓ Latest
        </button>
      )}
    </div>
  );
}
