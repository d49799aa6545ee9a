import { ApiError } from '../errors';
import type { ClientFrame, Message } from '../wire';
import { newRegeneration, newTurn } from './messages';
import type { TurnShape } from './replies';
import type { RegenerateInput, SendInput, TurnInput } from './rpc';
import type { ConversationRecord, RoomStore, StoredMessage } from './store';

/**
 * The conversation as a tree (SPEC §9), as turns meet it: what a send, an edit or a regenerate asks, where it goes
 * in the tree once checked, what a repeat of it under the same client_message_id answers, and a switch of branch.
 */

/** What a turn asks for: a send (an edit of `editOf` when given) or a new reply in place of `replaces`. */
export type TurnAsk =
  | { kind: 'send'; content: string; editOf?: string | undefined }
  | { kind: 'regenerate'; replaces: string };

/**
 * Where a checked turn goes. A send follows the head as it is when it commits; an edit follows the edited message's
 * parent; a regenerate answers the user message of the reply it replaces.
 */
export type TurnPlan =
  | { kind: 'send'; content: string; edited: Message | null }
  | { kind: 'regenerate'; user: Message; replaced: Message };

/** A send as the room takes it, an edit when it has edit_of. */
export function sendTurn(input: SendInput): TurnInput {
  return { ...input, ask: { kind: 'send', content: input.content, editOf: input.edit_of } };
}

/** A regenerate as the room takes it. */
export function regenerateTurn(input: RegenerateInput): TurnInput {
  return { ...input, ask: { kind: 'regenerate', replaces: input.message_id } };
}

/**
 * A socket's send or regenerate frame as the room takes it. A socket's turn has no HTTP request: it gets its own
 * request id, and a span of the socket's trace.
 */
export function frameTurn(
  frame: Extract<ClientFrame, { type: 'send' | 'regenerate' }>,
  conversationId: string,
  traceparent: string | undefined,
): TurnInput {
  const common = {
    conversation_id: conversationId,
    client_message_id: frame.client_message_id,
    request_id: crypto.randomUUID(),
    traceparent,
  };
  return frame.type === 'send'
    ? sendTurn({ ...common, content: frame.content, edit_of: frame.edit_of })
    : regenerateTurn({ ...common, message_id: frame.message_id });
}

/** Checks that a turn's target exists and may be branched from; nothing is spent or stored yet. */
export function planTurn(store: RoomStore, conversationId: string, ask: TurnAsk): TurnPlan {
  if (ask.kind === 'send') {
    if (!ask.editOf) return { kind: 'send', content: ask.content, edited: null };
    const edited = store.message(conversationId, ask.editOf);
    if (!edited) throw noSuchMessage();
    if (edited.role !== 'user') throw new ApiError('invalid_request', 'edit_of must name a user message');
    return { kind: 'send', content: ask.content, edited };
  }
  const replaced = store.message(conversationId, ask.replaces);
  if (!replaced) throw noSuchMessage();
  if (replaced.role !== 'assistant' || !replaced.reply_to) {
    throw new ApiError('invalid_request', 'message_id must name an assistant message');
  }
  if (!store.tree.onPath(replaced.id)) {
    throw new ApiError('invalid_request', 'message_id must name a reply on the active branch');
  }
  const user = store.message(conversationId, replaced.reply_to);
  if (!user) throw noSuchMessage();
  return { kind: 'regenerate', user, replaced };
}

/**
 * The records a checked turn commits to `c`: a send's user message after the head (an edit's after the edited
 * message's parent) and its reply, or a regenerate's new reply to the same user message; and how it changes the tree.
 */
export function turnRecords(
  store: RoomStore,
  c: ConversationRecord,
  plan: TurnPlan,
  clientMessageId: string | null,
): {
  turn: { conversation: ConversationRecord; user: StoredMessage; reply: StoredMessage; userIsNew: boolean };
  shape: TurnShape;
} {
  const lastSeq = store.lastSeq();
  if (plan.kind === 'regenerate') {
    const turn = newRegeneration(c, lastSeq, plan.user, plan.replaced.id, clientMessageId);
    return { turn: { ...turn, userIsNew: false }, shape: { regenerates: plan.replaced.id, branched: true } };
  }
  const parentId = plan.edited ? plan.edited.parent_id : store.head();
  const turn = newTurn(c, lastSeq, plan.content, clientMessageId, parentId);
  return { turn: { ...turn, userIsNew: true }, shape: { branched: plan.edited !== null } };
}

/**
 * What an earlier turn under the same client_message_id made, when this one asks the same: the same content (and
 * for an edit, beside the same message), or a new reply to the same user message. Anything else is
 * idempotency_mismatch.
 */
export function repeatOf(
  store: RoomStore,
  conversationId: string,
  earlier: Message,
  ask: TurnAsk,
): { user: Message; reply: Message } {
  if (ask.kind === 'send') {
    const edited = ask.editOf ? store.message(conversationId, ask.editOf) : null;
    const same =
      earlier.role === 'user' &&
      earlier.content === ask.content &&
      (!ask.editOf || (edited !== null && edited.parent_id === earlier.parent_id));
    if (!same) throw mismatch();
    const reply = store.replyTo(conversationId, earlier.id);
    if (!reply) throw new ApiError('internal', 'reply missing');
    return { user: earlier, reply };
  }
  const replaced = store.message(conversationId, ask.replaces);
  if (earlier.role !== 'assistant' || !replaced || replaced.reply_to !== earlier.reply_to || !earlier.reply_to) {
    throw mismatch();
  }
  const user = store.message(conversationId, earlier.reply_to);
  if (!user) throw new ApiError('internal', 'user message missing');
  return { user, reply: earlier };
}

const mismatch = () =>
  new ApiError('idempotency_mismatch', 'this client_message_id was already used with other content');

export const noSuchMessage = () => new ApiError('not_found', 'no such message in this conversation');

/** A switch of branch names a message of this conversation. */
export function assertInTree(store: RoomStore, conversationId: string, messageId: string): void {
  if (!store.message(conversationId, messageId)) throw noSuchMessage();
}
