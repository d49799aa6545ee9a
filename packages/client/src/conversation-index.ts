/**
 * The person's conversations, pinned first and then newest activity first, fetched a page at a time (a sidebar's
 * list): either those in use or the archived ones (SPEC §10).
 */
import type { Conversation, ConversationChange } from '../../../worker/wire';
import type { ChatApi } from './api';
import { ChatError, isChatError } from './errors';

export interface IndexSnapshot {
  conversations: readonly Conversation[];
  loading: boolean;
  done: boolean;
  error: string | null;
}

const PAGE = 30;

/** Whether `a` is a later state of the conversation than `b` (renamed, or a message since). */
function later(a: Conversation, b: Conversation): boolean {
  return (
    Date.parse(a.updated_at) > Date.parse(b.updated_at) || Date.parse(a.last_message_at) > Date.parse(b.last_message_at)
  );
}

/** The server's order: pinned first, then by last message. */
function listOrder(a: Conversation, b: Conversation): number {
  return (
    Number(b.pinned) - Number(a.pinned) ||
    Date.parse(b.last_message_at) - Date.parse(a.last_message_at) ||
    Date.parse(b.created_at) - Date.parse(a.created_at)
  );
}

export class ConversationIndex {
  private readonly byId = new Map<string, Conversation>();
  private cursor: string | null = null;
  private started = false;
  private loading = false;
  private done = false;
  private error: string | null = null;
  private snapshot: IndexSnapshot = { conversations: [], loading: false, done: false, error: null };
  private readonly listeners = new Set<() => void>();

  /** `archived`: this index lists the archived conversations, not those in use. */
  constructor(
    private readonly api: ChatApi,
    readonly archived = false,
  ) {}

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  readonly getSnapshot = (): IndexSnapshot => this.snapshot;

  private changed(): void {
    this.snapshot = {
      conversations: [...this.byId.values()].sort(listOrder),
      loading: this.loading,
      done: this.done,
      error: this.error,
    };
    for (const listener of this.listeners) listener();
  }

  async loadMore(): Promise<void> {
    if (this.loading || this.done) return;
    this.loading = true;
    this.error = null;
    this.changed();
    try {
      const page = await this.api.listConversations({
        cursor: this.started ? this.cursor : null,
        limit: PAGE,
        archived: this.archived,
      });
      this.started = true;
      for (const c of page.conversations) this.byId.set(c.id, c);
      this.cursor = page.next_cursor;
      this.done = page.next_cursor === null;
    } catch (error) {
      this.error = error instanceof ChatError ? error.message : 'The conversation list could not be loaded.';
    } finally {
      this.loading = false;
      this.changed();
    }
  }

  /** The first page again (on focus), so conversations started in other tabs show up. */
  async refresh(): Promise<void> {
    if (this.loading) return;
    try {
      const page = await this.api.listConversations({ limit: PAGE, archived: this.archived });
      // The list comes from Postgres, which hears of a reply in flight only when it ends (or 2 s in): what this
      // tab saw live is newer, and replacing it moved the conversation down and dropped its replying dot.
      for (const c of page.conversations) {
        const known = this.byId.get(c.id);
        if (!known || !later(known, c)) this.byId.set(c.id, c);
      }
      if (!this.started) {
        this.started = true;
        this.cursor = page.next_cursor;
        this.done = page.next_cursor === null;
      }
      this.changed();
    } catch {
      // The list stays as it was; the next focus tries again.
    }
  }

  /** A newer state of a conversation; one archived (or brought back) elsewhere leaves this list. */
  upsert(conversation: Conversation): void {
    if (conversation.archived === this.archived) this.byId.set(conversation.id, conversation);
    else this.byId.delete(conversation.id);
    this.changed();
  }

  /** A message was committed or a reply ended: the conversation moves up, its replying dot follows. */
  touch(id: string, at: string, streaming: boolean): void {
    const known = this.byId.get(id);
    if (!known) return;
    const newer = Date.parse(at) > Date.parse(known.last_message_at);
    if (!newer && known.streaming === streaming) return;
    this.byId.set(id, { ...known, last_message_at: newer ? at : known.last_message_at, streaming });
    this.changed();
  }

  async add(id: string): Promise<void> {
    try {
      this.upsert(await this.api.getConversation(id));
    } catch {
      // Shown on the next refresh.
    }
  }

  async rename(id: string, title: string): Promise<void> {
    await this.update(id, { title });
  }

  /** Rename, pin or archive; an archived conversation leaves the list in use (and comes back when unarchived). */
  async update(id: string, change: ConversationChange): Promise<Conversation> {
    const conversation = await this.api.updateConversation(id, change);
    this.upsert(conversation);
    return conversation;
  }

  async remove(id: string): Promise<void> {
    try {
      await this.api.deleteConversation(id);
    } catch (error) {
      // A second DELETE (another tab got there first) answers 404: the conversation is gone either way.
      if (!isChatError(error, 'not_found')) throw error;
    }
    this.forget(id);
  }

  forget(id: string): void {
    if (this.byId.delete(id)) this.changed();
  }
}
