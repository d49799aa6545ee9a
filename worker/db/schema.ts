import { sql } from 'drizzle-orm';
import {
  boolean,
  check,
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  unique,
  uuid,
} from 'drizzle-orm/pg-core';

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'string' });

const tsvector = customType<{ data: string }>({ dataType: () => 'tsvector' });

/**
 * The words of a text as search finds them (SPEC §10): the `simple` configuration (no language, no stemming, no stop
 * words), so every language matches by its words. The text is lower-cased under pg_c_utf8 first: the database's own
 * C locale lower-cases ASCII only, and "Привет" would never be found by "привет". pg_c_utf8's simple case mapping
 * keeps one code point per code point. search.ts builds its query with the same expression.
 */
export const searchWords = (column: unknown) =>
  sql`to_tsvector('simple'::regconfig, lower(${column} COLLATE "pg_c_utf8"))`;

export const conversationStates = pgTable(
  'conversation_states',
  {
    id: uuid('id').primaryKey(),
    userId: text('user_id').notNull(),
    title: text('title').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
    lastMessageAt: ts('last_message_at').notNull(),
    messageCount: integer('message_count').notNull().default(0),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    pinned: boolean('pinned').notNull().default(false),
    archived: boolean('archived').notNull().default(false),
    /** The last message of the active branch (SPEC §9); null until the first message. */
    headId: uuid('head_id'),
  },
  (t) => [
    index('conversation_states_user_last_message_idx').on(t.userId, t.lastMessageAt.desc(), t.id.desc()),
    // The list's order (SPEC §10): archived apart, pinned first, then by last message.
    index('conversation_states_user_list_idx').on(
      t.userId,
      t.archived,
      t.pinned.desc(),
      t.lastMessageAt.desc(),
      t.id.desc(),
    ),
    index('conversation_states_title_search_idx').using('gin', searchWords(t.title)),
  ],
);

export const conversationMessages = pgTable(
  'conversation_messages',
  {
    id: uuid('id').primaryKey(),
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversationStates.id, { onDelete: 'cascade' }),
    /**
     * The conversation's owner, copied here (a conversation never changes owner) so search finds the user's matches
     * in one index, without reading every user's (the (user_id, search_vector) index below).
     */
    userId: text('user_id').notNull(),
    seq: integer('seq').notNull(),
    role: text('role', { enum: ['user', 'assistant'] }).notNull(),
    content: text('content').notNull(),
    parts: jsonb('parts').$type<unknown[]>().notNull().default([]),
    status: text('status', { enum: ['complete', 'streaming', 'stopped', 'error'] }).notNull(),
    replyTo: uuid('reply_to'),
    /** The message this one follows in the tree (SPEC §9): a user message's is the reply before it, null first. */
    parentId: uuid('parent_id'),
    clientMessageId: text('client_message_id'),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    createdAt: ts('created_at').notNull().defaultNow(),
    /** The content's words for search, kept by Postgres (ranking reads it for every match). */
    searchVector: tsvector('search_vector').generatedAlwaysAs(
      sql`to_tsvector('simple'::regconfig, lower(content COLLATE "pg_c_utf8"))`,
    ),
  },
  (t) => [
    // btree_gin: one GIN index over the owner and the words, so a search reads only the searcher's matches (SPEC §10).
    index('conversation_messages_user_search_idx').using('gin', t.userId, t.searchVector),
    unique('conversation_messages_conversation_seq_key').on(t.conversationId, t.seq),
    unique('conversation_messages_conversation_client_message_id_key').on(t.conversationId, t.clientMessageId),
    check('conversation_messages_seq_positive', sql`${t.seq} >= 1`),
    check('conversation_messages_role_check', sql`${t.role} in ('user', 'assistant')`),
    check('conversation_messages_status_check', sql`${t.status} in ('complete', 'streaming', 'stopped', 'error')`),
    index('conversation_messages_parent_idx').on(t.conversationId, t.parentId),
  ],
);

/**
 * Thumbs up or down on an assistant message, with an optional comment (SPEC §9): the table the AgentCore team reads
 * to learn what people thought of its answers. Written by the conversation's room through its outbox.
 */
export const messageFeedback = pgTable(
  'message_feedback',
  {
    messageId: uuid('message_id')
      .primaryKey()
      .references(() => conversationMessages.id, { onDelete: 'cascade' }),
    conversationId: uuid('conversation_id')
      .notNull()
      .references(() => conversationStates.id, { onDelete: 'cascade' }),
    userId: text('user_id').notNull(),
    rating: text('rating', { enum: ['up', 'down'] }).notNull(),
    comment: text('comment'),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    index('message_feedback_conversation_idx').on(t.conversationId),
    index('message_feedback_created_idx').on(t.createdAt.desc()),
    check('message_feedback_rating_check', sql`${t.rating} in ('up', 'down')`),
  ],
);

export type MessageFeedbackRow = typeof messageFeedback.$inferSelect;

/**
 * A conversation's live share link (SPEC §10): one at most, `id` being 128 random bits (22 base64url characters).
 * Only an index from the public link to its conversation: whether a link still works is the room's word (a revoke
 * is refused there at once, before this row is gone). Written by the room through its outbox; deleting the
 * conversation takes it with it.
 */
export const conversationShares = pgTable('conversation_shares', {
  id: text('id').primaryKey(),
  conversationId: uuid('conversation_id')
    .notNull()
    .unique('conversation_shares_conversation_key')
    .references(() => conversationStates.id, { onDelete: 'cascade' }),
  createdAt: ts('created_at').notNull().defaultNow(),
});
