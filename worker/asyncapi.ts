/**
 * The AsyncAPI 3 document of the live protocol, served at /api/v1/asyncapi.json: the WebSocket frames each way and
 * the SSE reply stream, from the Worker's side (it sends server frames and chunks, it receives client frames).
 * Every payload is generated from the zod schemas in wire.ts.
 */
import type { z } from 'zod';
import { jsonSchemas } from './openapi';
import { AgentChunk, API_BASE, ClientFrame, Conversation, Message, ServerFrame } from './wire';

type Schema = Record<string, unknown>;

const SERVER_FRAME_TEXT: Record<string, string> = {
  ready: 'First frame on every socket: the conversation, the last committed seq and the reply in flight, if any',
  message: 'A message was committed or changed status (every socket of the conversation gets it)',
  chunk: 'One chunk of a reply; index counts from 0 (the start chunk) with no gaps, as the SSE ids',
  error: 'A refused frame or send; client_message_id when it answers a send that had one, retry_after on rate_limited',
  conversation: 'The conversation was renamed',
  deleted: 'The conversation was deleted; the socket is then closed with 4404',
  pong: 'The answer to ping, byte for byte {"type":"pong"} (the hibernation auto-response)',
};

const CLIENT_FRAME_TEXT: Record<string, string> = {
  send: 'Send a message (client_message_id makes it idempotent)',
  stop: 'Stop the reply in flight; its partial text is kept with status stopped',
  approve:
    'Answer a tool approval (as POST /conversations/{id}/approvals): every socket gets the message, then its continuation',
  resume: 'Re-sync: the chunks of a reply from from_index on, in order, then live; each once',
  ping: 'Keep-alive; answered {"type":"pong"} without waking the conversation',
};

/** The frames of a discriminated union, each named after its `type`. */
function frames(union: z.ZodDiscriminatedUnion, suffix: string): Record<string, z.ZodType> {
  const named: Record<string, z.ZodType> = {};
  for (const option of union.options as z.ZodObject[]) {
    const type = (option.shape.type as z.ZodLiteral<string>).value;
    named[`${type[0]?.toUpperCase()}${type.slice(1)}${suffix}`] = option;
  }
  return named;
}

function messages(named: Record<string, z.ZodType>, text: Record<string, string>, suffix: string) {
  const out: Record<string, Schema> = {};
  for (const name of Object.keys(named)) {
    const type = name.slice(0, -suffix.length).toLowerCase();
    out[name] = {
      name: type,
      title: name,
      summary: text[type] ?? '',
      contentType: 'application/json',
      payload: { $ref: `#/components/schemas/${name}` },
    };
  }
  return out;
}

let cached: Schema | null = null;

export function asyncApiDocument(): Schema {
  if (cached) return cached;
  const serverFrames = frames(ServerFrame, 'Frame');
  const clientFrames = frames(ClientFrame, 'Request');
  const schemas = {
    ...jsonSchemas({ ...serverFrames, Conversation, Message, UiMessageChunk: AgentChunk }, 'output'),
    ...jsonSchemas(clientFrames, 'input'),
  };
  const serverMessages = messages(serverFrames, SERVER_FRAME_TEXT, 'Frame');
  const clientMessages = messages(clientFrames, CLIENT_FRAME_TEXT, 'Request');
  const refsTo = (channel: string, names: string[]) =>
    names.map((name) => ({ $ref: `#/channels/${channel}/messages/${name}` }));
  const channelMessages = (names: string[]) =>
    Object.fromEntries(names.map((name) => [name, { $ref: `#/components/messages/${name}` }]));
  const conversationId = { id: { description: 'The conversation id (a UUID)' } };

  cached = {
    asyncapi: '3.0.0',
    info: {
      title: 'agent-chat live protocol',
      version: '1',
      description:
        'The WebSocket of one conversation and the SSE reply stream, seen from the Worker. REST: /api/v1/openapi.json.',
    },
    channels: {
      conversationSocket: {
        address: `${API_BASE}/conversations/{id}/ws`,
        title: 'The WebSocket of one conversation',
        description:
          'Open with Authorization: Bearer or ?ticket= (POST /ws-ticket). JSON text frames only: a binary frame closes with 1003, a frame over 256 KiB with 1009. Close 4401 when the token expires (after an error frame token_expired), 4404 when the conversation is deleted.',
        parameters: conversationId,
        messages: channelMessages([...Object.keys(serverMessages), ...Object.keys(clientMessages)]),
      },
      replyStream: {
        address: `${API_BASE}/conversations/{id}/stream`,
        title: 'The reply in flight as an AI SDK UI message stream (also the answer of POST /messages with SSE)',
        description:
          'Server-sent events `id: <message_id>:<index>` and `data: <chunk json>`: index 0 is start (messageId, messageMetadata {conversation_id, user_message_id}), then the agent chunks, then finish, abort or error; the stream always ends with `data: [DONE]` (no id). Resume with Last-Event-ID.',
        parameters: conversationId,
        messages: { UiMessageChunk: { $ref: '#/components/messages/UiMessageChunk' } },
      },
    },
    operations: {
      sendServerFrames: {
        action: 'send',
        channel: { $ref: '#/channels/conversationSocket' },
        summary: 'Frames the Worker sends on the socket',
        messages: refsTo('conversationSocket', Object.keys(serverMessages)),
      },
      receiveClientFrames: {
        action: 'receive',
        channel: { $ref: '#/channels/conversationSocket' },
        summary:
          'Frames the Worker accepts; a bad one is answered with an error frame invalid_frame and the socket stays open',
        messages: refsTo('conversationSocket', Object.keys(clientMessages)),
      },
      sendReplyStream: {
        action: 'send',
        channel: { $ref: '#/channels/replyStream' },
        summary: 'Chunks of the reply, one event each',
        messages: refsTo('replyStream', ['UiMessageChunk']),
      },
    },
    components: {
      schemas,
      messages: {
        ...serverMessages,
        ...clientMessages,
        UiMessageChunk: {
          name: 'chunk',
          title: 'UI message chunk',
          summary: 'One event of the AI SDK UI message stream v1 (the data line; the final data line is [DONE])',
          contentType: 'application/json',
          payload: { $ref: '#/components/schemas/UiMessageChunk' },
        },
      },
    },
  };
  return cached;
}
