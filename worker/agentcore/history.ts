/** The history a turn sends the agent (SPEC §6): bounded in messages and in bytes, ending with the new message. */
import type { UIMessage } from 'ai';
import type { Config } from '../config';
import { ApiError } from '../errors';

interface Encoded {
  json: string;
  bytes: number;
}

const encoded = new WeakMap<UIMessage, Encoded>();
const utf8 = new TextEncoder();

/**
 * A message's JSON, as the bridge sends it, with its size in UTF-8 bytes. Encoded once per message object: the
 * room hands the same objects to every turn, and re-encoding 50 of them per send would put the whole history on
 * the path of the first chunk.
 */
export function encodeMessage(message: UIMessage): Encoded {
  let hit = encoded.get(message);
  if (hit === undefined) {
    const json = JSON.stringify(message);
    hit = { json, bytes: utf8.encode(json).byteLength };
    encoded.set(message, hit);
  }
  return hit;
}

/**
 * The last AGENTCORE_HISTORY_LIMIT messages whose JSON adds up to at most AGENTCORE_HISTORY_MAX_BYTES, the oldest
 * dropped first. The last message (the new user message) is always kept: a send too large for the bound alone
 * was refused before it was stored (assertFitsHistory).
 */
export function boundHistory(messages: UIMessage[], config: Config): UIMessage[] {
  const recent = messages.slice(-config.AGENTCORE_HISTORY_LIMIT);
  let budget = config.AGENTCORE_HISTORY_MAX_BYTES;
  let from = recent.length;
  while (from > 0) {
    const bytes = encodeMessage(recent[from - 1] as UIMessage).bytes;
    if (bytes > budget && from < recent.length) break;
    budget -= bytes;
    from--;
  }
  return from === 0 ? recent : recent.slice(from);
}

/** The length of the ids the room gives messages (UUIDs): a new message is measured before it has one. */
const ID_PLACEHOLDER = '00000000-0000-0000-0000-000000000000';

/**
 * Refuses a send whose message alone is over AGENTCORE_HISTORY_MAX_BYTES, before anything is stored: the agent
 * could never be sent it, and a reply to a message it never saw would be stored as if it had.
 */
export function assertFitsHistory(config: Config, content: string): void {
  const message: UIMessage = { id: ID_PLACEHOLDER, role: 'user', parts: [{ type: 'text', text: content }] };
  const bytes = utf8.encode(JSON.stringify(message)).byteLength;
  const max = config.AGENTCORE_HISTORY_MAX_BYTES;
  if (bytes <= max) return;
  throw new ApiError(
    'payload_too_large',
    `the message is too large for the agent: ${bytes} bytes as sent, and at most ${max} bytes of history may be sent`,
  );
}
