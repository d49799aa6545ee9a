import type { UIMessage } from 'ai';
import { boundHistory } from '../agentcore/history';
import type { Config } from '../config';
import type { Message } from '../wire';
import type { RoomStore, StoredMessage } from './store';

/**
 * What the agent is sent: the active branch up to the turn's user message (SPEC §9), the messages that have parts
 * and have ended, within the bounds of boundHistory (AGENTCORE_HISTORY_LIMIT messages, AGENTCORE_HISTORY_MAX_BYTES).
 * This is the one place the history is bounded; the bridge sends what it is given. Read from storage once, then kept up to date by the sends and replies that extend the same path (the room is
 * their only writer), so a send costs neither a read of the history nor its parsing; the bridge encodes each
 * message once too. A message that does not follow the last one kept (an edit, a regenerate, a send after a switch)
 * drops the view, and the next turn reads its own path again.
 */
export class AgentHistory {
  private view: UIMessage[] | null = null;
  /** The last message the view covers (one without parts included): the next one must follow it. */
  private tip: string | null = null;

  /**
   * The history for a turn whose user message is `user` (committed and remembered already, or for a regenerate
   * stored earlier). The view is held to the bridge's own bounds (one rule, boundHistory): a message too old to
   * fit now never fits again on this path, as only newer ones come.
   */
  for(store: RoomStore, user: Message, config: Config): UIMessage[] {
    if (this.view === null || this.tip !== user.id) {
      this.view = store
        .pathUpTo(user.conversation_id, user.seq, config.AGENTCORE_HISTORY_LIMIT + 1)
        .map(forAgent)
        .filter((m) => m !== null);
      this.tip = user.id;
    }
    this.view = boundHistory(this.view, config);
    return [...this.view];
  }

  /**
   * The history for the continuation of `reply` once its tool approvals are answered (SPEC §9): the path up to its
   * user message, then the reply as it stands, with the answers, as the AI SDK's own client sends it.
   */
  continuing(store: RoomStore, user: Message, reply: StoredMessage, config: Config): UIMessage[] {
    const answered = { id: reply.id, role: reply.role, parts: reply.parts } as UIMessage;
    return boundHistory([...this.for(store, user, config), answered], config);
  }

  /** Adds a message that has just been committed in its final form, once the history has been read. */
  remember(m: StoredMessage): void {
    if (this.view === null) return;
    if (m.parent_id !== this.tip) {
      this.forget();
      return;
    }
    const entry = forAgent(m);
    if (entry) this.view.push(entry);
    this.tip = m.id;
  }

  /** The view no longer holds (the conversation was deleted): read it again when next asked. */
  forget(): void {
    this.view = null;
    this.tip = null;
  }
}

/** A message as the agent sees it, or null when it is not part of the agent's history (streaming, or no parts). */
function forAgent(m: StoredMessage): UIMessage | null {
  if (m.status === 'streaming' || m.parts.length === 0) return null;
  return { id: m.id, role: m.role, parts: m.parts } as UIMessage;
}
