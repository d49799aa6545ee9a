/**
 * The wire protocol: REST bodies, WebSocket frames and stream chunks (SPEC §3–§5).
 * The single source of these shapes for the worker, the web client and the tests.
 */
import type { JSONValue } from 'ai';
import { z } from 'zod';

export const MAX_CONTENT_CODE_POINTS = 32_000;
export const MAX_TITLE_CODE_POINTS = 200;
export const MAX_BODY_BYTES = 256 * 1024;
export const MAX_FRAME_BYTES = 256 * 1024;

export function codePointLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** A UUID in any case, read as lower case: the rooms, Postgres and every comparison see one spelling. */
export const Id = z.uuid({ message: 'must be a UUID' }).overwrite((id) => id.toLowerCase());

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Text Postgres can store as it is: no NUL and no unpaired surrogate. Either one, once admitted, could never leave
 * the room's outbox (text and jsonb refuse NUL; an unpaired surrogate fails the flush and is mangled by the room's
 * own storage), so the conversation's every later message never reached Postgres either (faults/, experiment 6).
 */
export function isStorableText(s: string): boolean {
  return !s.includes('\u0000') && !LONE_SURROGATE.test(s);
}
const storable = { message: 'must be valid Unicode text without NUL characters' };

const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');

/** The text with each NUL and unpaired surrogate replaced by U+FFFD: what the agent sends is kept, not refused. */
export function toStorableText(s: string): string {
  return isStorableText(s) ? s : s.replaceAll('\u0000', '\ufffd').replace(LONE_SURROGATES, '\ufffd');
}

/** JSON escapes that can make such text (raw, neither can be in valid JSON text read as UTF-8). */
const UNSTORABLE_ESCAPE = /\\u(0000|d[89a-f])/i;

/**
 * JSON.parse for text from outside (the agent's chunks) that leaves no NUL or unpaired surrogate in any string: one
 * in a reply held the conversation's outbox for good, as Postgres cannot store it (faults/, experiment 3).
 */
export function parseStorableJson(text: string): unknown {
  if (!UNSTORABLE_ESCAPE.test(text)) return JSON.parse(text);
  return JSON.parse(text, (_key, value: unknown) => (typeof value === 'string' ? toStorableText(value) : value));
}

/** Content: 1..32,000 code points, not only white space. Too long is a 413, so it is checked apart. */
export const Content = z
  .string()
  .refine((s) => s.trim().length > 0, { message: 'must not be empty or only white space' })
  .refine(isStorableText, storable);

export const Title = z
  .string()
  .refine(isStorableText, storable)
  .transform((s) => s.trim())
  .refine((s) => s.length > 0, { message: 'must not be empty' })
  .refine((s) => codePointLength(s) <= MAX_TITLE_CODE_POINTS, {
    message: `must be at most ${MAX_TITLE_CODE_POINTS} characters`,
  });

export const ClientMessageId = z.string().min(1).max(200).refine(isStorableText, storable);

export const CreateConversationBody = z.strictObject({ title: Title.optional() });
/** PATCH: rename, pin or archive (SPEC §10); at least one of them. */
export const UpdateConversationBody = z
  .strictObject({ title: Title.optional(), pinned: z.boolean().optional(), archived: z.boolean().optional() })
  .refine((b) => b.title !== undefined || b.pinned !== undefined || b.archived !== undefined, {
    message: 'give at least one of title, pinned, archived',
  });
export type ConversationChange = z.output<typeof UpdateConversationBody>;
export const SendMessageBody = z.strictObject({
  conversation_id: Id.optional(),
  content: Content,
  client_message_id: ClientMessageId.optional(),
  /** An edit (SPEC §9): the user message this one stands beside, with the same parent; needs conversation_id. */
  edit_of: Id.optional(),
});
export const WsTicketBody = z.strictObject({ conversation_id: Id });

/** `POST …/regenerate` (SPEC §9): a new reply to the user message that `message_id` (an assistant message) answers. */
export const RegenerateBody = z.strictObject({ message_id: Id, client_message_id: ClientMessageId.optional() });
export type Regenerate = z.output<typeof RegenerateBody>;
/** `POST …/head`: the active branch becomes the one through `message_id`. */
export const HeadBody = z.strictObject({ message_id: Id });
export const HeadResult = z.object({ head_id: Id });

export const MAX_COMMENT_CODE_POINTS = 2_000;
export const Rating = z.enum(['up', 'down']);
const Comment = z
  .string()
  .refine(isStorableText, storable)
  .refine((s) => codePointLength(s) <= MAX_COMMENT_CODE_POINTS, {
    message: `must be at most ${MAX_COMMENT_CODE_POINTS} characters`,
  });
/** `PUT /messages/{id}/feedback`: thumbs up or down on an assistant message, with an optional comment. */
export const FeedbackBody = z.strictObject({ rating: Rating, comment: Comment.optional() });

/**
 * `POST …/approvals` (SPEC §9): a person's answer to a `tool-approval-request`. `remember: "conversation"` answers the
 * same tool's later requests in this conversation the same way without asking.
 */
export const ApprovalBody = z.strictObject({
  approval_id: z.string().min(1).max(200).refine(isStorableText, storable),
  approved: z.boolean(),
  reason: Comment.optional(),
  remember: z.literal('conversation').optional(),
});
export type Approval = z.output<typeof ApprovalBody>;
/** A send as the client writes it (the page's body), and as the edge has checked it. */
export type SendBody = z.input<typeof SendMessageBody>;
export type SendMessage = z.output<typeof SendMessageBody>;

const intParam = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, { message: 'must be a whole number' })
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

export const ListConversationsQuery = z.strictObject({
  limit: intParam(1, 100).default(20),
  cursor: z.string().min(1).max(200).optional(),
  /** `true` lists only the archived conversations; without it they are left out. */
  archived: z
    .enum(['true', 'false'], { message: 'must be true or false' })
    .default('false')
    .transform((v) => v === 'true'),
});

export const MAX_SEARCH_CODE_POINTS = 200;

/** `GET /search` (SPEC §10): web-search syntax ("a phrase", -excluded, or). */
export const SearchQuery = z.strictObject({
  q: z
    .string()
    .refine(isStorableText, storable)
    .refine((s) => s.trim().length > 0, { message: 'must not be empty or only white space' })
    .refine((s) => codePointLength(s) <= MAX_SEARCH_CODE_POINTS, {
      message: `must be at most ${MAX_SEARCH_CODE_POINTS} characters`,
    }),
  limit: intParam(1, 50).default(20),
  cursor: z.string().min(1).max(200).optional(),
});
export type SearchQuery = z.output<typeof SearchQuery>;

/** `GET /conversations/{id}/export` (SPEC §10). */
export const ExportQuery = z.strictObject({
  format: z.enum(['markdown', 'json'], { message: 'must be markdown or json' }),
});

export const MessagesQuery = z
  .strictObject({
    limit: intParam(1, 200).default(50),
    before_seq: intParam(1, 2 ** 31 - 1).optional(),
    after_seq: intParam(0, 2 ** 31 - 1).optional(),
  })
  .refine((q) => q.before_seq === undefined || q.after_seq === undefined, {
    message: 'before_seq and after_seq cannot be used together',
  });

/** A page of history as the room reads it; the client's window is any part of it. */
export type PageQuery = z.output<typeof MessagesQuery>;
export type MessagesWindow = Partial<PageQuery>;

/** `POST /api/v1/dev/login` (DEV_AUTH only). */
export const DevLoginBody = z.strictObject({
  user: z.string().regex(/^[A-Za-z0-9_.@-]{1,64}$/, { message: 'must be 1..64 characters of A-Z a-z 0-9 _ . @ -' }),
});
export const DevLoginResult = z.object({ token: z.string(), user: z.string() });
export type DevLoginResult = z.infer<typeof DevLoginResult>;

export const MessageRole = z.enum(['user', 'assistant']);
export const MessageStatus = z.enum(['complete', 'streaming', 'stopped', 'error']);

export const Conversation = z.object({
  id: Id,
  title: z.string(),
  created_at: z.string(),
  updated_at: z.string(),
  last_message_at: z.string(),
  message_count: z.number().int(),
  streaming: z.boolean(),
  pinned: z.boolean(),
  archived: z.boolean(),
  /** The last message of the active branch (SPEC §9); null before the first message. */
  head_id: Id.nullable(),
  /** It has a live share link (SPEC §10): `POST …/share` made one and no `DELETE …/share` has revoked it since. */
  shared: z.boolean(),
});
export type Conversation = z.infer<typeof Conversation>;

/** A UIMessage part as the `ai` package assembles it; checked loosely here, strictly by the ai schemas. */
export const MessagePart = z.looseObject({ type: z.string() });
export type MessagePart = z.infer<typeof MessagePart>;

/**
 * A message's place among the messages that share its parent and role (SPEC §9), 1-based, by seq, and the ids of
 * its neighbours there (null at either end): what a `‹ n/m ›` picker switches to, with no other read.
 */
export const Branch = z.object({
  index: z.number().int().min(1),
  count: z.number().int().min(1),
  previous_id: Id.nullable(),
  next_id: Id.nullable(),
});
export type Branch = z.infer<typeof Branch>;
export const Feedback = z.object({ rating: Rating, comment: z.string().nullable() });
export type Feedback = z.infer<typeof Feedback>;
/**
 * A message's `content`: the plain text of its text parts, in order, as paragraphs. The room stores it, and a
 * client shows it for a reply still streaming, so both read the same text before and after it ends.
 */
export function plainText(parts: readonly MessagePart[]): string {
  return parts
    .filter((p): p is MessagePart & { text: string } => p.type === 'text' && typeof p.text === 'string')
    .map((p) => p.text)
    .join('\n\n');
}

export const Message = z.object({
  id: Id,
  conversation_id: Id,
  seq: z.number().int(),
  role: MessageRole,
  content: z.string(),
  parts: z.array(MessagePart),
  status: MessageStatus,
  reply_to: Id.nullable(),
  /** The message this one follows (SPEC §9): a user message, the reply before it (null first); a reply, its user message. */
  parent_id: Id.nullable(),
  /** Its place among the messages that share its parent and role. */
  branch: Branch,
  /** The owner's thumbs up or down on an assistant message (SPEC §9), null when none. */
  feedback: Feedback.nullable(),
  client_message_id: z.string().nullable(),
  created_at: z.string(),
  metadata: z.record(z.string(), z.unknown()),
});
export type Message = z.infer<typeof Message>;

export const ConversationList = z.object({
  conversations: z.array(Conversation),
  next_cursor: z.string().nullable(),
});
export const MessagePage = z.object({ messages: z.array(Message), has_more: z.boolean() });
/** A message as an export carries it: every branch (parent_id), no client ids or metadata. */
export const ExportedMessage = z.object({
  id: Id,
  seq: z.number().int(),
  role: MessageRole,
  content: z.string(),
  parts: z.array(MessagePart),
  status: MessageStatus,
  reply_to: Id.nullable(),
  parent_id: Id.nullable(),
  created_at: z.string(),
});
export type ExportedMessage = z.infer<typeof ExportedMessage>;
/** `GET /conversations/{id}/export?format=json`: the conversation, every message, the active branch's ids, feedback. */
export const ConversationExport = z.object({
  conversation: z.object({
    id: Id,
    title: z.string(),
    created_at: z.string(),
    updated_at: z.string(),
    last_message_at: z.string(),
    head_id: Id.nullable(),
  }),
  messages: z.array(ExportedMessage),
  active_branch: z.array(Id),
  feedback: z.array(
    z.object({
      message_id: Id,
      rating: z.enum(['up', 'down']),
      comment: z.string().nullable(),
      created_at: z.string(),
      updated_at: z.string(),
    }),
  ),
  exported_at: z.string(),
});
export type ConversationExport = z.infer<typeof ConversationExport>;

/** One found message: offsets in `highlights` count code points of `snippet.text`, end exclusive. */
export const SearchResult = z.object({
  conversation: z.object({ id: Id, title: z.string() }),
  message: z.object({ id: Id, seq: z.number().int(), role: MessageRole, created_at: z.string() }),
  snippet: z.object({
    text: z.string(),
    highlights: z.array(z.tuple([z.number().int(), z.number().int()])),
  }),
});
export type SearchResult = z.infer<typeof SearchResult>;
export const SearchResults = z.object({ results: z.array(SearchResult), next_cursor: z.string().nullable() });
export type SearchResults = z.infer<typeof SearchResults>;
/** A share link's id (SPEC §10): 128 random bits as 22 base64url characters. */
export const ShareId = z.string().regex(/^[A-Za-z0-9_-]{22}$/, { message: 'not a share link' });
/** `POST /conversations/{id}/share`: the conversation's one live link (a repeat returns the same). */
export const ShareLink = z.object({ share_id: ShareId, url: z.string(), created_at: z.string() });
export type ShareLink = z.infer<typeof ShareLink>;
/** A message as a share link shows it: what was said, by whom and when; no ids, no status, no metadata. */
export const SharedMessage = z.strictObject({
  role: MessageRole,
  content: z.string(),
  parts: z.array(MessagePart),
  created_at: z.string(),
});
export type SharedMessage = z.infer<typeof SharedMessage>;
export const SharedConversationInfo = z.strictObject({ title: z.string(), created_at: z.string() });
/**
 * `GET /api/v1/shared/{share_id}`: the active branch's messages that are written (a reply still streaming is on the
 * stream, not here). No user ids, no message ids, no metadata.
 */
export const SharedConversation = z.strictObject({
  conversation: SharedConversationInfo,
  messages: z.array(SharedMessage),
});
export type SharedConversation = z.infer<typeof SharedConversation>;
/**
 * The data of the share stream's `data-conversation` event: the conversation, and the written messages of the active
 * branch from position `from` on (0-based). The stream opens with the whole branch (`from` 0); each committed message
 * comes as its own event, and a rename as one with no messages. A viewer keeps its first `from` messages and appends.
 */
export const SharedUpdate = z.strictObject({
  conversation: SharedConversationInfo,
  from: z.number().int().min(0),
  messages: z.array(SharedMessage),
});
export type SharedUpdate = z.infer<typeof SharedUpdate>;
export const SendResult = z.object({ conversation: Conversation, message: Message, reply: Message });
export const WsTicket = z.object({ ticket: z.string(), expires_in: z.number().int() });
export const StopResult = z.object({ stopped: z.boolean() });

const HealthCheck = z.enum(['ok', 'down', 'skipped']);
/** GET /healthz and GET /readyz; checked_at is when the readiness probe this answer comes from started. */
export const Readiness = z.object({
  status: z.enum(['ok', 'unavailable']),
  checks: z.object({ postgres: HealthCheck, agentcore: HealthCheck }),
  checked_at: z.string().optional(),
});
export type Readiness = z.infer<typeof Readiness>;

export const ErrorCode = z.enum([
  'invalid_request',
  'invalid_frame',
  'unauthorized',
  'token_expired',
  'forbidden',
  'not_found',
  'reply_in_progress',
  'idempotency_mismatch',
  'already_answered',
  'payload_too_large',
  'rate_limited',
  'too_many_connections',
  'method_not_allowed',
  'unavailable',
  'internal',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;
export const ErrorEnvelope = z.object({
  error: z.object({ code: ErrorCode, message: z.string() }),
});

/** A UI message stream chunk (SPEC §5) as frames carry it: the room has checked it in full (AgentChunk). */
export const Chunk = z.looseObject({ type: z.string() });
export type Chunk = z.infer<typeof Chunk>;

const JsonValue: z.ZodType<JSONValue> = z.lazy(() =>
  z.union([
    z.null(),
    z.string(),
    z.number(),
    z.boolean(),
    z.record(z.string(), JsonValue.optional()),
    z.array(JsonValue),
  ]),
);
const providerMetadata = z.record(z.string(), z.record(z.string(), JsonValue.optional())).optional();
const toolMetadata = z.record(z.string(), JsonValue.optional()).optional();
const toolCall = {
  toolCallId: z.string(),
  providerExecuted: z.boolean().optional(),
  providerMetadata,
  toolMetadata,
  dynamic: z.boolean().optional(),
};
const chunkOf = <T extends string, S extends z.ZodRawShape>(type: T, shape: S) =>
  z.looseObject({ type: z.literal(type), ...shape });

/**
 * A chunk from the agent, checked in full: the `ai` package's `uiMessageChunkSchema`, field for field, but found by
 * its `type`. That schema is a 24-way union tried in order and checked asynchronously, which cost the first chunks of
 * every reply ~0.5 ms (bench/chat.ts firstChunk); wire.test.ts holds the two in agreement.
 */
export const AgentChunk = z.union([
  z.discriminatedUnion('type', [
    chunkOf('text-start', { id: z.string(), providerMetadata }),
    chunkOf('text-delta', { id: z.string(), delta: z.string(), providerMetadata }),
    chunkOf('text-end', { id: z.string(), providerMetadata }),
    chunkOf('error', { errorText: z.string() }),
    chunkOf('tool-input-start', {
      ...toolCall,
      toolName: z.string(),
      inputEncoding: z.enum(['json', 'text']).optional(),
      title: z.string().optional(),
    }),
    chunkOf('tool-input-delta', { toolCallId: z.string(), inputTextDelta: z.string() }),
    chunkOf('tool-input-available', {
      ...toolCall,
      toolName: z.string(),
      input: z.unknown(),
      title: z.string().optional(),
    }),
    chunkOf('tool-input-error', {
      ...toolCall,
      toolName: z.string(),
      input: z.unknown(),
      errorText: z.string(),
      title: z.string().optional(),
    }),
    chunkOf('tool-approval-request', {
      approvalId: z.string(),
      toolCallId: z.string(),
      approvalDescriptor: z.unknown().optional(),
      inputSchemaInput: z.unknown().optional(),
      signature: z.string().optional(),
    }),
    chunkOf('tool-output-available', { ...toolCall, output: z.unknown(), preliminary: z.boolean().optional() }),
    chunkOf('tool-output-error', { ...toolCall, errorText: z.string() }),
    chunkOf('tool-output-denied', { toolCallId: z.string() }),
    chunkOf('reasoning-start', { id: z.string(), providerMetadata }),
    chunkOf('reasoning-delta', { id: z.string(), delta: z.string(), providerMetadata }),
    chunkOf('reasoning-end', { id: z.string(), providerMetadata }),
    chunkOf('source-url', { sourceId: z.string(), url: z.string(), title: z.string().optional(), providerMetadata }),
    chunkOf('source-document', {
      sourceId: z.string(),
      mediaType: z.string(),
      title: z.string(),
      filename: z.string().optional(),
      providerMetadata,
    }),
    chunkOf('file', { url: z.string(), mediaType: z.string(), providerMetadata }),
    chunkOf('start-step', {}),
    chunkOf('finish-step', {}),
    chunkOf('start', { messageId: z.string().optional(), messageMetadata: z.unknown().optional() }),
    chunkOf('finish', {
      finishReason: z.enum(['stop', 'length', 'content-filter', 'tool-calls', 'error', 'other']).optional(),
      messageMetadata: z.unknown().optional(),
    }),
    chunkOf('abort', { reason: z.string().optional() }),
    chunkOf('message-metadata', { messageMetadata: z.unknown() }),
  ]),
  z.looseObject({
    type: z.templateLiteral(['data-', z.string()]),
    id: z.string().optional(),
    data: z.unknown(),
    transient: z.boolean().optional(),
  }),
]);
export type AgentChunk = z.infer<typeof AgentChunk>;

export const StreamingState = z.object({ message_id: Id, next_index: z.number().int() }).nullable();

export const ServerFrame = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('ready'),
    conversation: Conversation,
    last_seq: z.number().int(),
    streaming: StreamingState,
  }),
  z.object({ type: z.literal('message'), message: Message }),
  z.object({
    type: z.literal('chunk'),
    message_id: Id,
    index: z.number().int(),
    chunk: Chunk,
  }),
  z.object({
    type: z.literal('error'),
    code: ErrorCode,
    message: z.string(),
    client_message_id: z.string().optional(),
    retry_after: z.number().int().optional(),
  }),
  z.object({ type: z.literal('conversation'), conversation: Conversation }),
  /** The active branch changed (a switch, an edit, a regenerate): history follows the path to `head_id`. */
  z.object({ type: z.literal('head'), head_id: Id }),
  z.object({ type: z.literal('deleted') }),
  z.object({ type: z.literal('pong') }),
]);
export type ServerFrame = z.infer<typeof ServerFrame>;

export const ClientFrame = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('send'),
    content: Content,
    client_message_id: ClientMessageId,
    edit_of: Id.optional(),
  }),
  z.strictObject({ type: z.literal('regenerate'), message_id: Id, client_message_id: ClientMessageId }),
  z.strictObject({ type: z.literal('switch'), message_id: Id }),
  /** A person's answer to a tool approval (SPEC §9), as `POST …/approvals` takes it. */
  ApprovalBody.extend({ type: z.literal('approve') }),
  z.strictObject({ type: z.literal('stop') }),
  z.strictObject({
    type: z.literal('resume'),
    message_id: Id,
    from_index: z.number().int().min(0),
  }),
  z.strictObject({ type: z.literal('ping') }),
]);
export type ClientFrame = z.infer<typeof ClientFrame>;

/** The exact ping and pong texts, for the hibernation auto-response (byte for byte). */
export const PING_FRAME = '{"type":"ping"}';
export const PONG_FRAME = '{"type":"pong"}';

export const API_BASE = '/api/v1/chat';
