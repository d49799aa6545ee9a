/** Hooks for hosts that build their own UI on the client: one client, one live conversation, the list. */
import {
  type ChatClient,
  type ChatClientOptions,
  type ChatSnapshot,
  type ConversationIndex,
  createChatClient,
  type IndexSnapshot,
  type LiveConversation,
  type LiveConversationEvents,
} from '@agent-chat/client';
import { useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';

/**
 * One client for `baseUrl`. `getToken` may be a new function on every render: the latest one is asked, so the
 * client (and its live connections) are not recreated when it changes.
 */
export function useChatClient(options: ChatClientOptions): ChatClient {
  const latest = useRef(options);
  latest.current = options;
  const { baseUrl, WebSocket } = options;
  return useMemo(
    () =>
      createChatClient({
        baseUrl,
        WebSocket,
        getToken: (request) => latest.current.getToken(request),
        fetch: (input, init) => (latest.current.fetch ?? fetch)(input, init),
        onUnauthorized: () => latest.current.onUnauthorized?.(),
      }),
    [baseUrl, WebSocket],
  );
}

/**
 * The live conversation for `conversationId` (null: a new chat), started and disposed with it. A new chat's first
 * send creates its conversation: `created` fires, and when the host then passes that id the same live conversation
 * is kept, so the streaming reply is not interrupted.
 */
export function useLiveConversation(
  client: ChatClient,
  conversationId: string | null,
  events: Partial<LiveConversationEvents> = {},
): LiveConversation | null {
  const latest = useRef(events);
  latest.current = events;
  const [live, setLive] = useState<LiveConversation | null>(null);
  const handoff = useRef<LiveConversation | null>(null);

  useEffect(() => {
    const adopted = handoff.current?.id === conversationId ? handoff.current : null;
    handoff.current = null;
    const next: LiveConversation =
      adopted ??
      client.live(conversationId, {
        created: (id) => {
          handoff.current = next;
          latest.current.created?.(id);
        },
        conversation: (c) => latest.current.conversation?.(c),
        activity: (id, at, streaming) => latest.current.activity?.(id, at, streaming),
        deleted: (id) => latest.current.deleted?.(id),
      });
    setLive(next);
    if (!adopted) void next.start();
    return () => {
      if (handoff.current !== next) next.dispose();
    };
  }, [client, conversationId]);

  return live;
}

const EMPTY: ChatSnapshot = {
  conversationId: null,
  conversation: null,
  items: [],
  historyLoaded: false,
  hasOlder: false,
  loadingOlder: false,
  streaming: false,
  link: 'idle',
  notice: null,
  missing: false,
  signedOut: null,
};
const noop = () => () => {};

/** The conversation's state (messages, streaming, connection, notices), re-rendered at most once a frame. */
export function useConversation(live: LiveConversation | null): ChatSnapshot {
  return useSyncExternalStore(live?.subscribe ?? noop, live?.getSnapshot ?? (() => EMPTY));
}

/** The person's conversations, newest first; the first page is loaded, and the list refreshes on window focus. */
export function useConversationIndex(client: ChatClient): ConversationIndex {
  const index = useMemo(() => client.conversationIndex(), [client]);
  useEffect(() => {
    void index.loadMore();
    const refresh = () => void index.refresh();
    window.addEventListener('focus', refresh);
    return () => window.removeEventListener('focus', refresh);
  }, [index]);
  return index;
}

/** The archived conversations: loaded when they are first shown, not with the page. */
export function useArchivedIndex(client: ChatClient): ConversationIndex {
  return useMemo(() => client.conversationIndex({ archived: true }), [client]);
}

export function useConversationList(index: ConversationIndex): IndexSnapshot {
  return useSyncExternalStore(index.subscribe, index.getSnapshot);
}
