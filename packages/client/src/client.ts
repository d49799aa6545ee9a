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

  /** The person's conversations, newest first, a page at a time (`loadMore()`), kept current by `upsert`/`touch`. */
  conversationIndex(): ConversationIndex {
    return new ConversationIndex(this);
  }
}

/** The entry point: `createChatClient({ baseUrl, getToken })`. */
export function createChatClient(options: ChatClientOptions): ChatClient {
  return new ChatClient(options);
}
