import type { ChatClient, ChatClientOptions, Conversation } from '@agent-chat/client';
import { type ChatLookProps, ChatRoot } from './ChatRoot';
import { ConversationView } from './ConversationView';
import { useChatClient, useLiveConversation } from './hooks';

/** Either a client the host made (shared by several components), or what to make one from. */
export type ClientProps = { client: ChatClient } | Pick<ChatClientOptions, 'baseUrl' | 'getToken' | 'onUnauthorized'>;

export interface ChatPaneProps extends ChatLookProps {
  /** The conversation shown; null for a new chat. The host owns it (its route, its state). */
  conversationId: string | null;
  /** The pane moved to another conversation: a new chat's first send created one, or "start a new chat" (null). */
  onConversationChange?: (id: string | null) => void;
  /** A conversation was created, renamed or changed (for a host's own list). */
  onConversation?: (conversation: Conversation) => void;
}

export function useClientFrom(props: ClientProps): ChatClient {
  const own = useChatClient(
    'client' in props ? { baseUrl: '', getToken: () => null } : { ...props, baseUrl: props.baseUrl },
  );
  return 'client' in props ? props.client : own;
}

/** One conversation, for hosts that own their navigation. */
export function ChatPane(props: ChatPaneProps & ClientProps) {
  const client = useClientFrom(props);
  const { conversationId, onConversationChange, onConversation } = props;
  const live = useLiveConversation(client, conversationId, {
    created: (id) => onConversationChange?.(id),
    conversation: (c) => onConversation?.(c),
  });
  return (
    <ChatRoot
      theme={props.theme}
      strings={props.strings}
      className={props.className}
      allowedImageOrigins={props.allowedImageOrigins}
    >
      {live && <ConversationView key={live.instance} store={live} onNewChat={() => onConversationChange?.(null)} />}
    </ChatRoot>
  );
}
