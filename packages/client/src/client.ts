/** The client a host creates once: the REST calls, plus live conversations and the conversation list on top. */
import { ChatApi, type ChatClientOptions } from './api';
import { ConversationIndex } from './conversation-index';
import { LiveConversation, type LiveConversationEvents } from './live-conversation';

export class ChatClient extends ChatApi {
  /**
   * Keeps one conversation live (null: a new chat, created by its first send). Call `start()` to load it and
   * connect, `dispose()` when done with it.
   */
  live(conversationId: string | null, events: Partial<LiveConversationEvents> = {}): LiveConversation {
    return new LiveConversation(this, conversationId, events);
  }

  /**
   * The person's conversations, pinned first then newest first, a page at a time (`loadMore()`), kept current by
   * `upsert`/`touch`; with `archived`, the archived ones instead.
   */
  conversationIndex(options: { archived?: boolean } = {}): ConversationIndex {
    return new ConversationIndex(this, options.archived ?? false);
  }
}

/** The entry point: `createChatClient({ baseUrl, getToken })`. */
export function createChatClient(options: ChatClientOptions): ChatClient {
  return new ChatClient(options);
}
