/**
 * The OpenAPI 3.1 document of the REST API, served at /api/v1/openapi.json. Every body and response shape is
 * generated from the zod schemas in wire.ts (z.toJSONSchema): this file only says which route takes and answers
 * which, so a shape cannot drift from the code that checks it. openapi.test.ts proves each route the app serves is
 * here and answers what is written.
 */
import { z } from 'zod';
import {
  API_BASE,
  ApprovalBody,
  Conversation,
  ConversationExport,
  ConversationList,
  CreateConversationBody,
  DevLoginBody,
  DevLoginResult,
  ErrorEnvelope,
  ExportQuery,
  FeedbackBody,
  HeadBody,
  HeadResult,
  ListConversationsQuery,
  Message,
  MessagePage,
  MessagesQuery,
  Readiness,
  RegenerateBody,
  SearchQuery,
  SearchResults,
  SendMessageBody,
  SendResult,
  SharedConversation,
  ShareLink,
  StopResult,
  UpdateConversationBody,
  WsTicket,
  WsTicketBody,
} from './wire';

type Schema = Record<string, unknown>;
type Io = 'input' | 'output';

/** JSON Schemas (2020-12, as OpenAPI 3.1 takes them) of named zod schemas; a named one inside another is a $ref. */
export function jsonSchemas(named: Record<string, z.ZodType>, io: Io, prefix = '#/components/schemas/') {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(named)) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, {
    target: 'draft-2020-12',
    io,
    // Transforms (a trimmed title, a number read from a query string) are documented by their input or output.
    unrepresentable: 'any',
    uri: (id) => `${prefix}${id}`,
  });
  for (const schema of Object.values(schemas)) {
    delete schema.$id;
    delete schema.$schema;
  }
  return hoistShared(schemas as Record<string, Schema>, prefix);
}

/**
 * A recursive schema (JSON values in chunk metadata) comes out under `__shared`, referenced as
 * `<prefix>__shared#/$defs/schemaN`, which no reader resolves: each becomes a component of its own.
 */
function hoistShared(schemas: Record<string, Schema>, prefix: string): Record<string, Schema> {
  const shared = schemas.__shared?.$defs as Record<string, Schema> | undefined;
  if (!shared) return schemas;
  delete schemas.__shared;
  for (const [name, schema] of Object.entries(shared)) schemas[`Shared_${name}`] = schema;
  const marker = `${prefix}__shared#/$defs/`;
  return JSON.parse(JSON.stringify(schemas).replaceAll(marker, `${prefix}Shared_`));
}

const RESPONSES = {
  Conversation,
  ConversationExport,
  ConversationList,
  Message,
  MessagePage,
  SendResult,
  SearchResults,
  StopResult,
  HeadResult,
  ShareLink,
  SharedConversation,
  WsTicket,
  Readiness,
  DevLoginResult,
  ErrorEnvelope,
};
const REQUESTS = {
  CreateConversationBody,
  UpdateConversationBody,
  SendMessageBody,
  RegenerateBody,
  HeadBody,
  FeedbackBody,
  ApprovalBody,
  WsTicketBody,
  DevLoginBody,
};
type ResponseName = keyof typeof RESPONSES;
type RequestName = keyof typeof REQUESTS;

const ERROR_TEXT: Record<number, string> = {
  400: 'invalid_request: a malformed id, body, query or unknown field',
  401: 'unauthorized: no token, or one that is invalid or expired',
  403: 'forbidden: a WebSocket upgrade from an origin that is not allowed',
  404: 'not_found: no such conversation (or not yours), or no such share link (never made, revoked, or its conversation deleted)',
  405: 'method_not_allowed: share links are read-only (GET only)',
  409: 'reply_in_progress, idempotency_mismatch or already_answered (a tool approval answered before)',
  413: 'payload_too_large: a body over 256 KiB or content over 32,000 characters',
  429: 'rate_limited or too_many_connections; Retry-After says when to try again',
  503: 'unavailable: Postgres, the agent or the configuration is not ready',
};

/** A named response shape, an AI SDK UI message stream, a WebSocket upgrade, a JSON document, or no body. */
type Shape = ResponseName | 'sse' | 'shared-sse' | 'websocket' | 'document' | 'export' | null;

export interface Operation {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** OpenAPI path: `{id}` where Hono has `:id`. */
  path: string;
  summary: string;
  auth: boolean;
  query?: z.ZodObject;
  body?: RequestName;
  /** Status → a response shape, `sse` (an AI SDK UI message stream), or null for no body. */
  ok: Record<number, Shape>;
  errors: number[];
}

const conversation = `${API_BASE}/conversations/{id}`;
const WRITE_ERRORS = [400, 401, 413, 429, 503];

export const OPERATIONS: Operation[] = [
  {
    method: 'get',
    path: '/healthz',
    summary: 'Liveness: the Worker answers',
    auth: false,
    ok: { 200: 'Readiness' },
    errors: [],
  },
  {
    method: 'get',
    path: '/readyz',
    summary: 'Readiness: Postgres and the AgentCore answer (one probe serves 5 s)',
    auth: false,
    ok: { 200: 'Readiness', 503: 'Readiness' },
    errors: [],
  },
  {
    method: 'get',
    path: '/api/v1/openapi.json',
    summary: 'This document (OpenAPI 3.1)',
    auth: false,
    ok: { 200: 'document' },
    errors: [],
  },
  {
    method: 'get',
    path: '/api/v1/asyncapi.json',
    summary: 'The WebSocket frames and the SSE reply stream (AsyncAPI 3)',
    auth: false,
    ok: { 200: 'document' },
    errors: [],
  },
  {
    method: 'post',
    path: '/api/v1/dev/login',
    summary: 'Dev login: a 12 h token for a user name (only with DEV_AUTH on; 404 otherwise)',
    auth: false,
    body: 'DevLoginBody',
    ok: { 200: 'DevLoginResult' },
    errors: [400, 404, 429],
  },
  {
    method: 'post',
    path: `${API_BASE}/conversations`,
    summary: 'Create an empty conversation (title default "New chat")',
    auth: true,
    body: 'CreateConversationBody',
    ok: { 201: 'Conversation' },
    errors: WRITE_ERRORS,
  },
  {
    method: 'get',
    path: `${API_BASE}/conversations`,
    summary: "The user's conversations: pinned first, then newest message first; archived ones only with archived=true",
    auth: true,
    query: ListConversationsQuery,
    ok: { 200: 'ConversationList' },
    errors: [400, 401, 503],
  },
  {
    method: 'get',
    path: `${API_BASE}/search`,
    summary:
      'Search the user\'s messages and titles (words, "phrases", -exclusions): best match first, then newest; plain-text snippets with highlight ranges in code points',
    auth: true,
    query: SearchQuery,
    ok: { 200: 'SearchResults' },
    errors: [400, 401, 503],
  },
  {
    method: 'get',
    path: conversation,
    summary: 'One conversation',
    auth: true,
    ok: { 200: 'Conversation' },
    errors: [400, 401, 404, 503],
  },
  {
    method: 'patch',
    path: conversation,
    summary: 'Rename (1..200 characters after trimming), pin or archive',
    auth: true,
    body: 'UpdateConversationBody',
    ok: { 200: 'Conversation' },
    errors: [...WRITE_ERRORS, 404],
  },
  {
    method: 'delete',
    path: conversation,
    summary: 'Stop any reply, delete the conversation and close its sockets; later reads are 404',
    auth: true,
    ok: { 204: null },
    errors: [400, 401, 404, 429, 503],
  },
  {
    method: 'get',
    path: `${conversation}/messages`,
    summary: 'A page of history in ascending seq; an in-flight reply appears with status streaming',
    auth: true,
    query: MessagesQuery,
    ok: { 200: 'MessagePage' },
    errors: [400, 401, 404, 503],
  },
  {
    method: 'get',
    path: `${conversation}/export`,
    summary: 'Export: format=markdown (the active branch, for people) or format=json (every branch and the feedback)',
    auth: true,
    query: ExportQuery,
    ok: { 200: 'export' },
    errors: [400, 401, 404, 503],
  },
  {
    method: 'get',
    path: `${conversation}/stream`,
    summary: 'SSE: the in-flight reply from index 0 or after Last-Event-ID, then live; 204 when none',
    auth: true,
    ok: { 200: 'sse', 204: null },
    errors: [400, 401, 404, 429],
  },
  {
    method: 'post',
    path: `${conversation}/stop`,
    summary: 'Stop the in-flight reply; its partial text is kept with status stopped',
    auth: true,
    ok: { 200: 'StopResult' },
    errors: [400, 401, 404, 429, 503],
  },
  {
    method: 'post',
    path: `${conversation}/regenerate`,
    summary:
      'A new reply to the user message that an assistant message on the active branch answers, made the head; JSON or SSE as a send, idempotent per client_message_id, rate-limited as a send',
    auth: true,
    body: 'RegenerateBody',
    ok: { 200: 'SendResult' },
    errors: [...WRITE_ERRORS, 404, 409],
  },
  {
    method: 'post',
    path: `${conversation}/approvals`,
    summary:
      'Answer a tool approval the agent asked for: the tool part becomes approval-responded and, once the reply asks nothing more, the agent continues the same assistant message (chunk indexes go on). JSON when it has ended, or with Accept: text/event-stream its continuation as an AI SDK UI message stream. remember: "conversation" answers the same tool the same way later. 404 unknown approval, 409 already_answered or reply_in_progress; rate-limited as a send',
    auth: true,
    body: 'ApprovalBody',
    ok: { 200: 'SendResult' },
    errors: [...WRITE_ERRORS, 404, 409],
  },
  {
    method: 'post',
    path: `${conversation}/head`,
    summary:
      'Switch branch: the active branch becomes the one through message_id, following the newest child at each step',
    auth: true,
    body: 'HeadBody',
    ok: { 200: 'HeadResult' },
    errors: [...WRITE_ERRORS, 404, 409],
  },
  {
    method: 'put',
    path: `${API_BASE}/messages/{id}/feedback`,
    summary:
      'Thumbs up or down on an assistant message that has ended, with an optional comment; every open tab gets the changed message',
    auth: true,
    body: 'FeedbackBody',
    ok: { 200: 'Message' },
    errors: [...WRITE_ERRORS, 404, 409],
  },
  {
    method: 'delete',
    path: `${API_BASE}/messages/{id}/feedback`,
    summary: 'Remove the feedback on an assistant message',
    auth: true,
    ok: { 204: null },
    errors: [400, 401, 404, 409, 429, 503],
  },
  {
    method: 'post',
    path: `${API_BASE}/messages`,
    summary:
      'Send a message (with edit_of, an edit beside that user message): the reply as JSON when it ends, or with Accept: text/event-stream as an AI SDK UI message stream; idempotent per client_message_id',
    auth: true,
    body: 'SendMessageBody',
    ok: { 200: 'SendResult' },
    errors: [...WRITE_ERRORS, 404, 409],
  },
  {
    method: 'post',
    path: `${API_BASE}/ws-ticket`,
    summary: 'A single-use ticket (≤ 60 s) to open the WebSocket of one conversation',
    auth: true,
    body: 'WsTicketBody',
    ok: { 200: 'WsTicket' },
    errors: [...WRITE_ERRORS, 404],
  },
  {
    method: 'post',
    path: `${conversation}/share`,
    summary: 'The live share link of the conversation (one per conversation; a repeat returns it)',
    auth: true,
    ok: { 200: 'ShareLink' },
    errors: [400, 401, 404, 429, 503],
  },
  {
    method: 'delete',
    path: `${conversation}/share`,
    summary: 'Revoke the share link: it is 404 from then on and its live viewers are closed',
    auth: true,
    ok: { 204: null },
    errors: [400, 401, 404, 429, 503],
  },
  {
    method: 'get',
    path: '/api/v1/shared/{shareId}',
    summary:
      'Public, no sign-in: a shared conversation, its written messages (content, parts, role, created_at only); GET only, rate-limited per client',
    auth: false,
    ok: { 200: 'SharedConversation' },
    errors: [404, 405, 429, 503],
  },
  {
    method: 'get',
    path: '/api/v1/shared/{shareId}/stream',
    summary:
      'Public, no sign-in: a shared conversation live (SSE), its written messages, each reply as it streams, each message written',
    auth: false,
    ok: { 200: 'shared-sse' },
    errors: [404, 405, 429, 503],
  },
  {
    method: 'get',
    path: `${conversation}/ws`,
    summary: 'WebSocket (Bearer header or ?ticket=); frames in /api/v1/asyncapi.json',
    auth: true,
    ok: { 101: 'websocket' },
    errors: [400, 401, 403, 404, 429],
  },
];

function pathParameters(path: string): Schema[] {
  return [...path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({
    name,
    in: 'path',
    required: true,
    schema:
      name === 'shareId'
        ? { type: 'string', pattern: '^[A-Za-z0-9_-]{22}$', description: '128 random bits, base64url' }
        : { type: 'string', format: 'uuid' },
  }));
}

function queryParameters(schema: z.ZodObject | undefined): Schema[] {
  if (!schema) return [];
  const json = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, Schema>;
    required?: string[];
  };
  return Object.entries(json.properties ?? {}).map(([name, s]) => ({
    name,
    in: 'query',
    required: json.required?.includes(name) ?? false,
    schema: s,
  }));
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

function okResponse(status: number, shape: Shape): Schema {
  if (shape === null) return { description: status === 204 ? 'No content' : 'OK' };
  if (shape === 'document')
    return { description: 'OK', content: { 'application/json': { schema: { type: 'object' } } } };
  if (shape === 'export') {
    return {
      description: 'A download (Content-Disposition: attachment): Markdown of the active branch, or JSON of everything',
      content: {
        'text/markdown': { schema: { type: 'string' } },
        'application/json': { schema: ref('ConversationExport') },
      },
    };
  }
  if (shape === 'websocket') return { description: 'Switching Protocols: the socket of /api/v1/asyncapi.json' };
  if (shape === 'shared-sse') {
    return {
      description:
        'Follows the conversation until the link is revoked: `data-conversation` events (data: {conversation, from, messages}: keep the first `from` messages, append these; the stream opens with from 0) and each reply as AI SDK UI message chunks `id: <message_id>:<index>` (no metadata)',
      content: { 'text/event-stream': { schema: { type: 'string' } } },
    };
  }
  if (shape === 'sse') {
    return {
      description:
        'An AI SDK UI message stream v1: events `id: <message_id>:<index>` and `data: <chunk>`, ending with `data: [DONE]` (channel replyStream of /api/v1/asyncapi.json)',
      content: { 'text/event-stream': { schema: { type: 'string' } } },
    };
  }
  return { description: 'OK', content: { 'application/json': { schema: ref(shape) } } };
}

function operation(op: Operation): Schema {
  const responses: Record<string, Schema> = {};
  for (const [status, shape] of Object.entries(op.ok)) responses[status] = okResponse(Number(status), shape);
  for (const status of op.errors) responses[status] = { $ref: `#/components/responses/E${status}` };
  if (op.path === `${API_BASE}/messages`) {
    const json = responses[200]?.content as Record<string, unknown>;
    json['text/event-stream'] = (okResponse(200, 'sse').content as Record<string, unknown>)['text/event-stream'];
  }
  return {
    summary: op.summary,
    operationId: `${op.method}${op.path.replace(/\{(\w+)\}/g, 'By_$1').replace(/[^A-Za-z0-9]+(\w)?/g, (_, c) => (c ?? '').toUpperCase())}`,
    ...(op.auth ? {} : { security: [] }),
    parameters: [...pathParameters(op.path), ...queryParameters(op.query)],
    ...(op.body ? { requestBody: { required: true, content: { 'application/json': { schema: ref(op.body) } } } } : {}),
    responses,
  };
}

let cached: Schema | null = null;

/** The OpenAPI 3.1 document (built once per isolate). */
export function openApiDocument(): Schema {
  if (cached) return cached;
  const paths: Record<string, Record<string, Schema>> = {};
  for (const op of OPERATIONS) {
    paths[op.path] ??= {};
    (paths[op.path] as Record<string, Schema>)[op.method] = operation(op);
  }
  const errorResponses: Record<string, Schema> = {};
  for (const [status, text] of Object.entries(ERROR_TEXT)) {
    errorResponses[`E${status}`] = {
      description: text,
      content: { 'application/json': { schema: ref('ErrorEnvelope') } },
    };
  }
  cached = {
    openapi: '3.1.0',
    info: {
      title: 'agent-chat',
      version: '1',
      description:
        'Real-time chat between dashboard users and the AgentCore agent. Errors are always {"error":{"code","message"}}; every response carries X-Request-Id. WebSocket frames and the SSE stream: /api/v1/asyncapi.json.',
    },
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    security: [{ bearer: [] }],
    paths,
    components: {
      schemas: { ...jsonSchemas(REQUESTS, 'input'), ...jsonSchemas(RESPONSES, 'output') },
      responses: errorResponses,
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    },
  };
  return cached;
}
