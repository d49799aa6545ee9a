import type { UIMessage } from 'ai';
import { boundHistory } from '../agentcore/history';
import type { Config } from '../config';
import type { Message } from '../wire';
import type { RoomStore } from './store';

/**
 * What the agent is sent: the messages that have parts and have ended, ending with the new user message, within
 * the bounds of boundHistory (AGENTCORE_HISTORY_LIMIT messages, AGENTCORE_HISTORY_MAX_BYTES). This is the one place
 * the history is bounded; the bridge sends what it is given. Read from storage once, then kept up to date by the
 * sends and replies (the room is their only writer), so a send costs neither a read of the history nor its
 * parsing; the bridge encodes each message once too.
 */
export class AgentHistory {
  private view: UIMessage[] | null = null;

  /**
   * The history for a turn whose user message is `user` (committed and remembered already), bounded by
   * boundHistory: a message too old to fit now never fits again, as only newer ones come, so the view is kept so.
   */
  for(store: RoomStore, user: Message, config: Config): UIMessage[] {
    this.view ??= store
      .recent(user.conversation_id, config.AGENTCORE_HISTORY_LIMIT + 1)
      .filter((m) => m.seq <= user.seq)
      .map(forAgent)
      .filter((m) => m !== null);
    this.view = boundHistory(this.view, config);
    return [...this.view];
  }

  /** Adds a message that has just been committed in its final form, once the history has been read. */
  remember(m: Message): void {
    const entry = forAgent(m);
    if (this.view && entry) this.view.push(entry);
  }

  /** The conversation's messages are gone (deleted): read them again when next asked. */
  forget(): void {
    this.view = null;
  }
}

/** A message as the agent sees it, or null when it is not part of the agent's history (streaming, or no parts). */
function forAgent(m: Message): UIMessage | null {
  if (m.status === 'streaming' || m.parts.length === 0) return null;
  return { id: m.id, role: m.role, parts: m.parts } as UIMessage;
}
