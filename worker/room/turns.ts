import { assertFitsHistory } from '../agentcore/history';
import type { Config } from '../config';
import type { Message } from '../wire';
import type { AgentHistory } from './agent-history';
import type { ToolApprovals } from './approvals';
import { planTurn, repeatOf, type TurnPlan, turnRecords } from './branches';
import { newConversation } from './messages';
import type { Outbox } from './outbox';
import type { Replies } from './replies';
import { notFound, type TurnInput } from './rpc';
import type { SendAllowance } from './send-allowance';
import type { ConversationRecord, RoomStore } from './store';
import type { TurnGate } from './turn-gate';

/** What a turn touches in its room. */
export interface TurnRoom {
  store(): RoomStore;
  config(): Config;
  gate: TurnGate;
  allowance: SendAllowance;
  approvals: ToolApprovals;
  history: AgentHistory;
  outbox: Outbox;
  replies: Replies;
}

/** A send, an edit or a regenerate, from its checks to its committed messages and the reply it starts. */
export class Turns {
  constructor(private readonly room: TurnRoom) {}

  /**
   * Checks and commits a turn (a send, an edit, a regenerate): ownership, idempotency, its place in the tree, one
   * reply at a time, rate limits; then its new messages, and starts the agent. A retry with the same
   * client_message_id returns what the first one made and calls nothing.
   */
  async accept(userId: string, input: TurnInput): Promise<{ user: Message; reply: Message }> {
    const key = input.client_message_id;
    await this.room.gate.afterEarlier(key);
    const store = this.room.store();
    const c = store.conversation();
    if (c && c.userId !== userId) throw notFound();
    if (c && key) {
      const earlier = store.messageByClientId(c.id, key);
      if (earlier) {
        const { user, reply } = repeatOf(store, c.id, earlier, input.ask);
        return { user, reply: await this.room.replies.read(reply) };
      }
    }
    if (!c && (!input.create || input.ask.kind !== 'send')) throw notFound();
    this.room.gate.assertFree();
    const plan = planTurn(store, input.conversation_id, input.ask);
    if (plan.kind === 'send') assertFitsHistory(this.room.config(), plan.content);
    await this.room.gate.hold(key, this.room.allowance.admit(userId));
    // Read again: another send may have made the conversation while this one waited for the allowance.
    const existing = this.room.store().conversation();
    return this.commit(existing ?? newConversation(input.conversation_id, userId), input, plan, !existing);
  }

  private commit(
    c: ConversationRecord,
    input: TurnInput,
    plan: TurnPlan,
    fresh: boolean,
  ): { user: Message; reply: Message } {
    const store = this.room.store();
    const { turn, shape } = turnRecords(store, c, plan, input.client_message_id ?? null);
    // A turn answers what a pending approval asked: the approval is denied first (SPEC §9, `superseded`).
    this.room.approvals.supersede(c.id);
    // One storage commit per turn: the bucket is kept with the messages it admitted. The agent call and every
    // frame wait for it (the output gate); locally it holds workerd up ~0.5 ms, measured by sends with and
    // without these writes taking turns in one stack (bench/chat.ts figures, session 4).
    const { user, reply } = store.saveTurn(turn, this.room.allowance.bucket, fresh);
    if (turn.userIsNew) this.room.history.remember(user);
    const trace = { requestId: input.request_id, traceparent: input.traceparent };
    this.room.outbox.duringReply(this.room.replies.start(turn.conversation, user, reply, trace, shape));
    return { user, reply };
  }
}
