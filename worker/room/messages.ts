/** How the room makes its records: a new or changed conversation, the two messages of a send, and a reply's final form. */
import { type ConversationChange, type Message, type MessagePart, plainText } from '../wire';
import type { ConversationRecord } from './store';
import { titleFromContent } from './title';

/** A conversation as it is first stored: titled `title` by its user, or "New chat" until its first send. */
export function newConversation(id: string, userId: string, title?: string): ConversationRecord {
  const now = new Date().toISOString();
  return {
    id,
    userId,
    title: title ?? 'New chat',
    titleSource: title ? 'user' : 'default',
    createdAt: now,
    updatedAt: now,
    lastMessageAt: now,
    messageCount: 0,
    metadata: {},
    pinned: false,
    archived: false,
  };
}

/** A conversation renamed, pinned or archived (PATCH): a title its user gave is never replaced by an automatic one. */
export function changedConversation(c: ConversationRecord, change: ConversationChange): ConversationRecord {
  return {
    ...c,
    ...(change.title === undefined ? {} : { title: change.title, titleSource: 'user' as const }),
    pinned: change.pinned ?? c.pinned,
    archived: change.archived ?? c.archived,
    updatedAt: new Date().toISOString(),
  };
}

/**
 * A send's user message, the first row of its reply (streaming, empty), and the conversation after them: two
 * messages more, titled from the content while its title is the default one, marked streaming.
 */
export function newTurn(
  c: ConversationRecord,
  lastSeq: number,
  content: string,
  clientMessageId: string | null,
): { user: Message; reply: Message; conversation: ConversationRecord } {
  const now = new Date().toISOString();
  const common = { conversation_id: c.id, created_at: now, metadata: {} };
  const user: Message = {
    ...common,
    id: crypto.randomUUID(),
    seq: lastSeq + 1,
    role: 'user',
    content,
    parts: [{ type: 'text', text: content }],
    status: 'complete',
    reply_to: null,
    client_message_id: clientMessageId,
  };
  const reply: Message = {
    ...common,
    id: crypto.randomUUID(),
    seq: lastSeq + 2,
    role: 'assistant',
    content: '',
    parts: [],
    status: 'streaming',
    reply_to: user.id,
    client_message_id: null,
  };
  const autoTitle = c.titleSource === 'default' ? titleFromContent(content) : null;
  const conversation: ConversationRecord = {
    ...c,
    title: autoTitle ?? c.title,
    titleSource: autoTitle ? 'auto' : c.titleSource,
    updatedAt: now,
    lastMessageAt: now,
    messageCount: c.messageCount + 2,
    metadata: { ...c.metadata, streaming: true },
  };
  return { user, reply, conversation };
}

/** A message with these parts, its content their plain text: a reply in flight as read, or as it ended. */
export function withParts(m: Message, parts: readonly MessagePart[]): Message {
  return { ...m, parts: [...parts], content: plainText(parts) };
}

/** How a reply ended: its parts, its status and the metadata it ends with. */
export function finalReply(
  reply: Message,
  parts: readonly MessagePart[],
  status: Message['status'],
  metadata: Record<string, unknown>,
): Message {
  return { ...withParts(reply, parts), status, metadata };
}
