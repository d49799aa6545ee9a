/**
 * @agent-chat/react: the chat as React components on @agent-chat/client. Styles: import
 * `@agent-chat/react/styles.css` once; every rule is scoped to the components' `.agent-chat` root.
 */
export { AgentChat, type AgentChatProps } from './AgentChat';
export { ChatPane, type ChatPaneProps, type ClientProps } from './ChatPane';
export { type ChatLookProps, ChatRoot } from './ChatRoot';
export {
  useArchivedIndex,
  useChatClient,
  useConversation,
  useConversationIndex,
  useConversationList,
  useLiveConversation,
} from './hooks';
export { type MountedChat, type MountOptions, mount } from './mount';
export { SharedConversationView, type SharedConversationViewProps } from './SharedConversationView';
export type { ChatStrings } from './strings';
export type { Theme } from './theme';
