import { type Context, Hono } from 'hono';
import { type AuthVariables, authenticate, requireAuth } from './auth';
import { loadConfig } from './config';
import { conversationOfMessage, listConversations } from './db/conversations';
import { exportConversation } from './db/export';
import { search } from './db/search';
import { ApiError } from './errors';
import { attachment, exportMarkdown } from './export-markdown';
import { derivedConversationId, jsonBody, parse, query } from './http';
import { ownOrigin } from './own-host';
import type { RoomResult } from './room/rpc';
import {
  ApprovalBody,
  CreateConversationBody,
  ExportQuery,
  FeedbackBody,
  HeadBody,
  Id,
  ListConversationsQuery,
  MessagesQuery,
  RegenerateBody,
  SearchQuery,
  SendMessageBody,
  type ShareLink,
  UpdateConversationBody,
  WsTicketBody,
} from './wire';
import { limitWrites } from './write-limit';

type App = { Bindings: Env; Variables: AuthVariables & { requestId: string; traceparent: string } };

function room(env: Env, conversationId: string) {
  return env.ROOMS.get(env.ROOMS.idFromName(conversationId));
}

function unwrap<T>(result: RoomResult<T>): T {
  if (result.ok) return result.value;
  throw new ApiError(result.error.code, result.error.message, { retryAfter: result.error.retryAfter });
}

function pathId(raw: string | undefined): string {
  return parse(Id, raw, 'conversation id');
}

/** Passes a WebSocket upgrade to the room, with who is asking (RPC cannot carry an upgrade). */
function upgrade(
  env: Env,
  conversationId: string,
  query: URLSearchParams | null,
  who?: { userId: string; tokenExpiresAt: number },
  trace?: { requestId: string; traceparent: string },
): Promise<Response> {
  const headers = new Headers({ upgrade: 'websocket' });
  // The room's connect and close lines carry the upgrade's request id and trace.
  if (trace) {
    headers.set('x-request-id', trace.requestId);
    headers.set('traceparent', trace.traceparent);
  }
  if (who) {
    headers.set('x-user-id', who.userId);
    headers.set('x-token-expires-at', String(who.tokenExpiresAt));
  }
  return room(env, conversationId).fetch(`https://room/ws${query ? `?${query}` : ''}`, { headers });
}

const wantsEventStream = (accept: string | undefined) => /\btext\/event-stream\b/i.test(accept ?? '');

export const chat = new Hono<App>();

/**
 * The WebSocket route authenticates itself: a browser cannot set headers on an upgrade, so a single-use
 * ticket may stand in for the Bearer token. Refusals happen here, before the upgrade.
 */
chat.get('/conversations/:id/ws', async (c) => {
  const ticket = c.req.query('ticket');
  let presented = false;
  try {
    const id = pathId(c.req.param('id'));
    const config = loadConfig(c.env);
    const origin = c.req.header('origin');
    if (origin && origin !== ownOrigin(new URL(c.req.url), config) && !config.ALLOWED_ORIGINS.includes(origin)) {
      throw new ApiError('forbidden', `origin ${origin} is not allowed`);
    }
    if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') {
      throw new ApiError('invalid_request', 'expected a WebSocket upgrade');
    }
    if (c.req.header('authorization') || !ticket) {
      const who = await authenticate(config, c.req.header('authorization'));
      return await upgrade(c.env, id, null, who, traceOf(c));
    }
    // The ticket's own room uses it up, whichever conversation it is presented to.
    const ticketRoom = ticketRoomOf(ticket);
    if (!ticketRoom) throw new ApiError('unauthorized', 'the ticket is invalid, expired or used');
    presented = true;
    return await upgrade(c.env, ticketRoom, new URLSearchParams({ ticket, conversation: id }), undefined, traceOf(c));
  } finally {
    // A ticket is used up by its first attempt whatever the outcome (SPEC §4), a refusal for Origin, a bad id or a
    // missing upgrade included: a page on a foreign origin that got hold of one must not be able to hand it to a
    // script that then connects from the right origin.
    if (ticket && !presented) await spendTicket(c.env, ticket);
  }
});

const traceOf = (c: Context<App>) => ({ requestId: c.get('requestId'), traceparent: c.get('traceparent') });

/** The conversation whose room issued a ticket (its first part), or null for one that cannot be ours. */
function ticketRoomOf(ticket: string): string | null {
  const parsed = Id.safeParse(ticket.split('.')[0]);
  return parsed.success ? parsed.data.toLowerCase() : null;
}

/** Presents a ticket to its room for no conversation: the room uses it up and refuses it. */
async function spendTicket(env: Env, ticket: string): Promise<void> {
  const ticketRoom = ticketRoomOf(ticket);
  if (!ticketRoom) return;
  const res = await upgrade(env, ticketRoom, new URLSearchParams({ ticket, conversation: '' }));
  await res.body?.cancel();
}

chat.use('*', requireAuth);

// Other writes than sends share a per-user bucket (SPEC §3); sends have buckets of their own, in the room.
for (const [method, path] of [
  ['POST', '/conversations'],
  ['PATCH', '/conversations/:id'],
  ['DELETE', '/conversations/:id'],
  ['POST', '/conversations/:id/stop'],
  ['POST', '/conversations/:id/head'],
  ['PUT', '/messages/:id/feedback'],
  ['DELETE', '/messages/:id/feedback'],
  ['POST', '/ws-ticket'],
  ['POST', '/conversations/:id/share'],
  ['DELETE', '/conversations/:id/share'],
] as const) {
  chat.on(method, path, limitWrites);
}

chat.post('/conversations', async (c) => {
  const body = await jsonBody(c, CreateConversationBody);
  const id = crypto.randomUUID();
  const conversation = unwrap(await room(c.env, id).create(c.get('userId'), id, body.title));
  return c.json(conversation, 201);
});

chat.get('/conversations', async (c) => {
  const q = query(c, ListConversationsQuery);
  return c.json(await listConversations(loadConfig(c.env), c.get('userId'), q));
});

chat.get('/search', async (c) => {
  const q = query(c, SearchQuery);
  return c.json(await search(loadConfig(c.env), c.get('userId'), q));
});

chat.get('/conversations/:id', async (c) => {
  const id = pathId(c.req.param('id'));
  return c.json(unwrap(await room(c.env, id).get(c.get('userId'))));
});

chat.patch('/conversations/:id', async (c) => {
  const id = pathId(c.req.param('id'));
  const body = await jsonBody(c, UpdateConversationBody);
  return c.json(unwrap(await room(c.env, id).update(c.get('userId'), body)));
});

chat.delete('/conversations/:id', async (c) => {
  const id = pathId(c.req.param('id'));
  unwrap(await room(c.env, id).remove(c.get('userId')));
  return c.body(null, 204);
});

chat.post('/conversations/:id/share', async (c) => {
  const id = pathId(c.req.param('id'));
  const share = unwrap(await room(c.env, id).share(c.get('userId')));
  const link: ShareLink = {
    share_id: share.id,
    url: new URL(`/s/${share.id}`, c.req.url).href,
    created_at: share.createdAt,
  };
  return c.json(link);
});

chat.delete('/conversations/:id/share', async (c) => {
  const id = pathId(c.req.param('id'));
  unwrap(await room(c.env, id).unshare(c.get('userId')));
  return c.body(null, 204);
});

chat.get('/conversations/:id/messages', async (c) => {
  const id = pathId(c.req.param('id'));
  const q = query(c, MessagesQuery);
  return c.json(unwrap(await room(c.env, id).history(c.get('userId'), q)));
});

chat.get('/conversations/:id/export', async (c) => {
  const id = pathId(c.req.param('id'));
  const { format } = query(c, ExportQuery);
  const data = await exportConversation(loadConfig(c.env), c.get('userId'), id);
  const markdown = format === 'markdown';
  return new Response(markdown ? exportMarkdown(data) : JSON.stringify(data, null, 2), {
    headers: {
      'content-type': markdown ? 'text/markdown; charset=utf-8' : 'application/json; charset=utf-8',
      'content-disposition': attachment(data.conversation.title, markdown ? 'md' : 'json'),
      'cache-control': 'no-store',
    },
  });
});

chat.get('/conversations/:id/stream', async (c) => {
  const id = pathId(c.req.param('id'));
  return room(c.env, id).attachStream(c.get('userId'), c.req.header('last-event-id') ?? null);
});

chat.post('/conversations/:id/stop', async (c) => {
  const id = pathId(c.req.param('id'));
  return c.json(unwrap(await room(c.env, id).stop(c.get('userId'))));
});

chat.post('/conversations/:id/regenerate', async (c) => {
  const id = pathId(c.req.param('id'));
  const body = await jsonBody(c, RegenerateBody);
  const userId = c.get('userId');
  const input = { ...body, conversation_id: id, request_id: c.get('requestId'), traceparent: c.get('traceparent') };
  if (wantsEventStream(c.req.header('accept'))) return room(c.env, id).regenerateStream(userId, input);
  return c.json(unwrap(await room(c.env, id).regenerate(userId, input)));
});

chat.post('/conversations/:id/approvals', async (c) => {
  const id = pathId(c.req.param('id'));
  const body = await jsonBody(c, ApprovalBody);
  const userId = c.get('userId');
  const input = { ...body, request_id: c.get('requestId'), traceparent: c.get('traceparent') };
  if (wantsEventStream(c.req.header('accept'))) return room(c.env, id).approveStream(userId, input);
  return c.json(unwrap(await room(c.env, id).approve(userId, input)));
});

chat.post('/conversations/:id/head', async (c) => {
  const id = pathId(c.req.param('id'));
  const body = await jsonBody(c, HeadBody);
  return c.json(unwrap(await room(c.env, id).switchHead(c.get('userId'), body.message_id)));
});

/** The room of a message the user owns, found through Postgres (the route names the message alone). */
async function roomOfMessage(env: Env, userId: string, raw: string | undefined) {
  const messageId = parse(Id, raw, 'message id');
  const conversationId = await conversationOfMessage(loadConfig(env), userId, messageId);
  if (!conversationId) throw new ApiError('not_found', 'no such message');
  return { messageId, room: room(env, conversationId) };
}

chat.put('/messages/:id/feedback', async (c) => {
  const body = await jsonBody(c, FeedbackBody);
  const userId = c.get('userId');
  const { messageId, room: target } = await roomOfMessage(c.env, userId, c.req.param('id'));
  const feedback = { rating: body.rating, comment: body.comment ?? null };
  return c.json(unwrap(await target.rate(userId, messageId, feedback)));
});

chat.delete('/messages/:id/feedback', async (c) => {
  const userId = c.get('userId');
  const { messageId, room: target } = await roomOfMessage(c.env, userId, c.req.param('id'));
  unwrap(await target.rate(userId, messageId, null));
  return c.body(null, 204);
});

chat.post('/messages', async (c) => {
  const body = await jsonBody(c, SendMessageBody);
  if (body.edit_of && !body.conversation_id) {
    throw new ApiError('invalid_request', 'an edit (edit_of) needs the conversation_id of the edited message');
  }
  const userId = c.get('userId');
  const create = body.conversation_id === undefined;
  const conversationId =
    body.conversation_id ??
    (body.client_message_id ? await derivedConversationId(userId, body.client_message_id) : crypto.randomUUID());
  const input = {
    ...body,
    conversation_id: conversationId,
    create,
    request_id: c.get('requestId'),
    traceparent: c.get('traceparent'),
  };
  if (wantsEventStream(c.req.header('accept'))) return room(c.env, conversationId).sendStream(userId, input);
  return c.json(unwrap(await room(c.env, conversationId).send(userId, input)));
});

chat.post('/ws-ticket', async (c) => {
  const body = await jsonBody(c, WsTicketBody);
  const ticket = await room(c.env, body.conversation_id).ticket(c.get('userId'), c.get('tokenExpiresAt'));
  return c.json(unwrap(ticket));
});
