/** How the room makes its records: a new or changed conversation, the messages of a turn, and a reply's final form. */
import { type ConversationChange, type Message, type MessagePart, plainText } from '../wire';
import type { ConversationRecord, StoredMessage } from './store';
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
 * A send's user message, following `parentId` (the head, or for an edit the edited message's parent), the first
 * row of its reply (streaming, empty), and the conversation after them: two messages more, titled from the content
 * while its title is the default one, marked streaming.
 */
export function newTurn(
  c: ConversationRecord,
  lastSeq: number,
  content: string,
  clientMessageId: string | null,
  parentId: string | null,
): { user: StoredMessage; reply: StoredMessage; conversation: ConversationRecord } {
  const now = new Date().toISOString();
  const user: StoredMessage = {
    conversation_id: c.id,
    created_at: now,
    metadata: {},
    id: crypto.randomUUID(),
    seq: lastSeq + 1,
    role: 'user',
    content,
    parts: [{ type: 'text', text: content }],
    status: 'complete',
    reply_to: null,
    parent_id: parentId,
    client_message_id: clientMessageId,
  };
  const reply = firstRow(c, user, lastSeq + 2, null, now);
  const autoTitle = c.titleSource === 'default' ? titleFromContent(content) : null;
  const conversation: ConversationRecord = {
    ...after(c, 2, now),
    title: autoTitle ?? c.title,
    titleSource: autoTitle ? 'auto' : c.titleSource,
  };
  return { user, reply, conversation };
}

/**
 * A regenerate (SPEC §9): a new reply to `user` beside `replaced`, under the regenerate's client_message_id, and
 * the conversation one message more. The reply names what it replaces (metadata `regenerate_of`), so a restart
 * asks the agent again with the same request.
 */
export function newRegeneration(
  c: ConversationRecord,
  lastSeq: number,
  user: Message,
  replaced: string,
  clientMessageId: string | null,
): { user: Message; reply: StoredMessage; conversation: ConversationRecord } {
  const now = new Date().toISOString();
  const reply = { ...firstRow(c, user, lastSeq + 1, clientMessageId, now), metadata: { regenerate_of: replaced } };
  return { user, reply, conversation: after(c, 1, now) };
}

/** The reply's first row: streaming, empty, answering `user` and following it. */
function firstRow(
  c: ConversationRecord,
  user: StoredMessage,
  seq: number,
  clientMessageId: string | null,
  now: string,
): StoredMessage {
  return {
    conversation_id: c.id,
    created_at: now,
    metadata: {},
    id: crypto.randomUUID(),
    seq,
    role: 'assistant',
    content: '',
    parts: [],
    status: 'streaming',
    reply_to: user.id,
    parent_id: user.id,
    client_message_id: clientMessageId,
  };
}

/** The conversation with `added` messages more and a reply streaming. */
function after(c: ConversationRecord, added: number, now: string): ConversationRecord {
  return {
    ...c,
    updatedAt: now,
    lastMessageAt: now,
    messageCount: c.messageCount + added,
    metadata: { ...c.metadata, streaming: true },
  };
}

/** A message with these parts, its content their plain text: a reply in flight as read, or as it ended. */
export function withParts<M extends StoredMessage>(m: M, parts: readonly MessagePart[]): M {
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
