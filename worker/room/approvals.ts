import { ApiError } from '../errors';
import type { Approval, Message, MessagePart } from '../wire';
import type { AgentHistory } from './agent-history';
import type { Outbox } from './outbox';
import type { Replies, Trace } from './replies';
import { ReplyStream } from './reply-stream';
import type { SendAllowance } from './send-allowance';
import type { RoomSockets } from './sockets';
import type { ConversationRecord, RoomStore } from './store';
import type { TurnGate } from './turn-gate';

/**
 * Tool approval, the AI SDK's own way (SPEC §9). An agent that wants a person's consent streams
 * `tool-input-available` then `tool-approval-request {approvalId, toolCallId}` and ends its turn: the reply is stored
 * complete with that tool part in state `approval-requested`, its chunks are kept (sealed), and the approval is noted
 * here. A person's answer sets the part to `approval-responded` with `approval: {id, approved, reason?}`; once the
 * reply asks nothing more, the agent is asked again with the history ending in that message and its continuation is
 * appended to it, its chunk indexes going on from where the reply stopped.
 *
 * `remember: "conversation"` keeps the answer for the tool: its later requests in this conversation are answered the
 * same way by the room, at once, with the reason `remembered` on each part so answered. A send, an edit or a
 * regenerate while an approval is pending denies it first, with the reason `superseded`.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS approvals (
  id TEXT PRIMARY KEY,
  message_id TEXT NOT NULL,
  tool TEXT NOT NULL,
  answered INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS approval_rules (
  tool TEXT PRIMARY KEY,
  approved INTEGER NOT NULL
);
`;

/** The reason on a pending approval the room denied because a send (an edit, a regenerate) came first. */
export const SUPERSEDED = 'superseded';
/** The reason on an answer the room gave from one remembered for the conversation. */
export const REMEMBERED = 'remembered';
/**
 * How many remembered answers one reply takes before the room leaves the next request to a person: an agent that
 * asks again after every answer would otherwise go on for ever with nobody watching.
 */
const MAX_REMEMBERED_PER_REPLY = 25;

/** A person's (or the room's) answer to one approval. */
export interface Answer {
  approved: boolean;
  reason?: string | undefined;
}

/** An approval a reply asked for: which message, which tool, and whether it has been answered. */
export interface AskedApproval {
  id: string;
  messageId: string;
  tool: string;
  answered: boolean;
}

type ApprovalState = { id: string; approved?: boolean; reason?: string };
type ToolPart = MessagePart & { toolCallId: string; state?: string; approval?: ApprovalState };

const str = (v: SqlStorageValue | undefined): string => (typeof v === 'string' ? v : String(v ?? ''));

/** The approvals asked for in a conversation and the answers remembered for it, in the room's storage. */
export class ApprovalBook {
  constructor(private readonly sql: SqlStorage) {
    this.sql.exec(SCHEMA);
  }

  /** Notes the approvals a reply has ended asking for (a repeated id is a new request). */
  asked(messageId: string, parts: readonly MessagePart[]): void {
    for (const { id, tool } of requested(parts)) {
      this.sql.exec(
        'INSERT OR REPLACE INTO approvals (id, message_id, tool, answered) VALUES (?, ?, ?, 0)',
        id,
        messageId,
        tool,
      );
    }
  }

  find(id: string): AskedApproval | null {
    const r = this.sql.exec('SELECT * FROM approvals WHERE id = ?', id).toArray()[0];
    return r ? toAsked(r) : null;
  }

  /** The approvals no one has answered yet. */
  pending(): AskedApproval[] {
    return this.sql.exec('SELECT * FROM approvals WHERE answered = 0').toArray().map(toAsked);
  }

  markAnswered(ids: readonly string[]): void {
    this.sql.exec(
      'UPDATE approvals SET answered = 1 WHERE id IN (SELECT value FROM json_each(?))',
      JSON.stringify(ids),
    );
  }

  /** The answer remembered for `tool` in this conversation, if one is. */
  rule(tool: string): Answer | null {
    const r = this.sql.exec('SELECT approved FROM approval_rules WHERE tool = ?', tool).toArray()[0];
    return r ? { approved: Number(r.approved) === 1, reason: REMEMBERED } : null;
  }

  remember(tool: string, approved: boolean): void {
    this.sql.exec('INSERT OR REPLACE INTO approval_rules (tool, approved) VALUES (?, ?)', tool, approved ? 1 : 0);
  }

  /** Forgets everything (the conversation was deleted). */
  wipe(): void {
    this.sql.exec('DELETE FROM approvals; DELETE FROM approval_rules;');
  }
}

function toAsked(r: Record<string, SqlStorageValue>): AskedApproval {
  return { id: str(r.id), messageId: str(r.message_id), tool: str(r.tool), answered: Number(r.answered) === 1 };
}

function isToolPart(p: MessagePart): p is ToolPart {
  return (p.type.startsWith('tool-') || p.type === 'dynamic-tool') && typeof p.toolCallId === 'string';
}

const toolOf = (p: ToolPart): string => (p.type === 'dynamic-tool' ? str(p.toolName as string) : p.type.slice(5));

/** The approvals these parts ask for and are still waiting on, with their tools. */
export function requested(parts: readonly MessagePart[]): { id: string; tool: string }[] {
  return parts
    .filter(isToolPart)
    .filter((p) => p.state === 'approval-requested' && typeof p.approval?.id === 'string')
    .map((p) => ({ id: (p.approval as ApprovalState).id, tool: toolOf(p) }));
}

/** The parts with the approval `id` answered: state `approval-responded`, `approval: {…, id, approved, reason?}`. */
export function withAnswer(parts: readonly MessagePart[], id: string, answer: Answer): MessagePart[] {
  return parts.map((p) => {
    if (!isToolPart(p) || p.state !== 'approval-requested' || p.approval?.id !== id) return p;
    const { reason: _none, ...approval } = p.approval;
    const reason = answer.reason === undefined ? {} : { reason: answer.reason };
    return { ...p, state: 'approval-responded', approval: { ...approval, approved: answer.approved, ...reason } };
  });
}

/**
 * The parts of a reply assembled from its chunks, with the answers `answered` holds: no chunk of the stream carries
 * a person's answer, so a part assembled as `approval-requested` (or on to its output) gets it from the stored row.
 */
export function carryAnswers(assembled: readonly MessagePart[], answered: readonly MessagePart[]): MessagePart[] {
  const answers = new Map<string, ApprovalState>();
  for (const p of answered) {
    if (isToolPart(p) && p.approval && typeof p.approval.approved === 'boolean') answers.set(p.approval.id, p.approval);
  }
  if (answers.size === 0) return [...assembled];
  return assembled.map((p) => {
    const answer = isToolPart(p) && p.approval ? answers.get(p.approval.id) : undefined;
    if (!answer || !isToolPart(p)) return p;
    const state = p.state === 'approval-requested' ? 'approval-responded' : p.state;
    return { ...p, state, approval: { ...p.approval, ...answer } };
  });
}

/** What the approvals touch in their room. */
export interface ApprovalRoom {
  storage: DurableObjectStorage;
  store(): RoomStore;
  gate: TurnGate;
  sockets: RoomSockets;
  history: AgentHistory;
  outbox: Outbox;
  replies(): Replies;
  /** The conversation's send allowance: an answer is rate-limited as a send. */
  allowance: SendAllowance;
}

/** An answered approval: the user message and the reply; `from`, the index its continuation starts at, if it goes on. */
export interface Answered {
  user: Message;
  reply: Message;
  from: number | null;
}

export class ToolApprovals {
  constructor(private readonly room: ApprovalRoom) {}

  /**
   * A person's answer (SPEC §9): unknown → 404, answered already → 409 already_answered, while a reply streams → 409
   * reply_in_progress; rate-limited as a send. When it leaves the reply asking nothing more, the reply goes on.
   */
  async answer(c: ConversationRecord, userId: string, body: Approval, trace: Trace): Promise<Answered> {
    const check = (): AskedApproval => {
      const asked = this.room.store().approvals.find(body.approval_id);
      if (!asked) throw new ApiError('not_found', 'no such approval in this conversation');
      if (asked.answered) throw new ApiError('already_answered', 'this approval has been answered already');
      return asked;
    };
    const { messageId } = check();
    this.room.gate.assertFree();
    const kept = () => ReplyStream.restore(this.room.storage, messageId);
    const [, stream] = await this.room.gate.hold(undefined, Promise.all([this.admit(userId), kept()]));
    // Checked again: the conversation may have been deleted meanwhile (a send or another answer waits at the gate).
    const asked = check();
    const message = this.room.store().message(c.id, asked.messageId);
    if (!message) throw new ApiError('not_found', 'no such approval in this conversation');
    if (body.remember === 'conversation') this.room.store().approvals.remember(asked.tool, body.approved);
    const answer = { approved: body.approved, ...(body.reason === undefined ? {} : { reason: body.reason }) };
    const parts = this.byRules(withAnswer(message.parts, asked.id, answer), Number.POSITIVE_INFINITY);
    return this.commit(c, message, parts, () => stream, trace);
  }

  /** Spends a send from the user's and the conversation's buckets, the latter kept as a send keeps it. */
  private async admit(userId: string): Promise<void> {
    await this.room.allowance.admit(userId);
    const bucket = this.room.allowance.bucket;
    if (bucket) this.room.store().keepSendBucket(bucket);
  }

  /**
   * A reply has ended asking for approvals (`ended` is its stream, sealed): those of tools with a remembered answer
   * are answered so, and when nothing is left to a person the reply goes on at once.
   */
  asked(c: ConversationRecord, final: Message, ended: ReplyStream): void {
    const parts = this.byRules(final.parts, MAX_REMEMBERED_PER_REPLY);
    if (parts === final.parts) return;
    this.commit(c, final, parts, () => ReplyStream.continuing(ended), {});
  }

  /** A send, an edit or a regenerate is about to commit: every approval still pending is denied as superseded. */
  supersede(conversationId: string): void {
    const store = this.room.store();
    const pending = store.approvals.pending();
    for (const messageId of new Set(pending.map((a) => a.messageId))) {
      const message = store.message(conversationId, messageId);
      if (!message) continue;
      let parts: MessagePart[] = message.parts;
      for (const a of pending) if (a.messageId === messageId) parts = withAnswer(parts, a.id, denied);
      const changed = { ...message, parts };
      store.saveAnswered(changed, answeredIn(message.parts, parts), false);
      this.room.sockets.broadcast({ type: 'message', message: changed });
      // Its sealed chunks are no longer wanted: the reply will not go on.
      ReplyStream.restore(this.room.storage, messageId).then(
        (s) => s.drop(),
        () => undefined,
      );
    }
    if (pending.length > 0) this.room.history.forget();
  }

  /** The parts with every request whose tool has a remembered answer answered so; the same array when none has. */
  private byRules(parts: MessagePart[], limit: number): MessagePart[] {
    const remembered = parts.filter((p) => isToolPart(p) && p.approval?.reason === REMEMBERED).length;
    if (remembered >= limit) return parts;
    let out = parts;
    for (const { id, tool } of requested(parts)) {
      const rule = this.room.store().approvals.rule(tool);
      if (rule) out = withAnswer(out, id, rule);
    }
    return out;
  }

  /**
   * Stores the answers in `parts` and tells every socket; when the reply asks nothing more, its row streams again
   * and the agent is asked for its continuation, appended to the same message.
   */
  private commit(
    c: ConversationRecord,
    message: Message,
    parts: MessagePart[],
    stream: () => ReplyStream,
    trace: Trace,
  ): Answered {
    const store = this.room.store();
    const user = message.reply_to ? store.message(c.id, message.reply_to) : null;
    if (!user) throw new ApiError('internal', 'the user message of this reply is missing');
    const goesOn = requested(parts).length === 0;
    const changed: Message = { ...message, parts, status: goesOn ? 'streaming' : message.status };
    store.saveAnswered(changed, answeredIn(message.parts, parts), goesOn);
    // The agent's history held the message as it asked: read it again when next asked.
    this.room.history.forget();
    if (!goesOn) {
      this.room.sockets.broadcast({ type: 'message', message: changed });
      return { user, reply: changed, from: null };
    }
    // A reply on another branch than the head (after a switch) goes on as the head: its continuation ends the path.
    if (store.head() !== message.id) {
      store.switchHead(message.id);
      this.room.sockets.broadcast({ type: 'head', head_id: message.id });
    }
    const { done, from } = this.room.replies().continueReply(c, user, changed, stream(), trace);
    this.room.outbox.duringReply(done);
    return { user, reply: changed, from };
  }
}

const denied: Answer = { approved: false, reason: SUPERSEDED };

/** The approval ids that `after` answers and `before` did not. */
function answeredIn(before: readonly MessagePart[], after: readonly MessagePart[]): string[] {
  const still = new Set(requested(after).map((a) => a.id));
  return requested(before)
    .map((a) => a.id)
    .filter((id) => !still.has(id));
}
