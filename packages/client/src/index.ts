/**
 * @agent-chat/client: the framework-free client of agent-chat (SPEC §3–§5, §8). Types come from the wire
 * protocol module the Worker itself validates with.
 */

export type {
  Chunk,
  ClientFrame,
  Conversation,
  ConversationChange,
  ErrorCode,
  Feedback,
  Message,
  MessagePart,
  SearchResult,
  SearchResults,
  ServerFrame,
  SharedMessage,
  ShareLink,
} from '../../../worker/wire';
export {
  codePointLength,
  MAX_COMMENT_CODE_POINTS,
  MAX_CONTENT_CODE_POINTS,
  MAX_TITLE_CODE_POINTS,
} from '../../../worker/wire';
export type {
  ApprovalRequest,
  ChatClientOptions,
  GetToken,
  ListOptions,
  MessagesWindow,
  SendBody,
  TokenRequest,
} from './api';
export { answeredApprovals, awaitsApproval, type ToolApproval, toolApproval, toolName } from './approvals';
export { ChatClient, createChatClient } from './client';
export type { IndexSnapshot } from './conversation-index';
export { ConversationIndex } from './conversation-index';
export { ChatError, type ChatErrorCode, isChatError } from './errors';
export type {
  ApprovalAnswer,
  ChatItem,
  ChatSnapshot,
  ItemStatus,
  LinkState,
  LiveConversationEvents,
  Notice,
  SendRefusal,
} from './live-conversation';
export { LiveConversation } from './live-conversation';
export { preloadAssembler } from './reply';
export {
  SharedConversation,
  type SharedConversationOptions,
  type SharedLinkState,
  type SharedSnapshot,
} from './shared-conversation';
export { type ReplyEvent, readReplyEvents } from './sse';
