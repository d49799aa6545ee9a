import {
  ChatError,
  type Conversation,
  type ConversationChange,
  type ConversationIndex,
  codePointLength,
  MAX_TITLE_CODE_POINTS,
} from '@agent-chat/client';
import {
  type FocusEvent,
  type FormEvent,
  type KeyboardEvent,
  useEffect,
  useId,
  useRef,
  useState,
  useSyncExternalStore,
} from 'react';
import { SearchBox, type SearchBoxProps } from './SearchBox';
import { SharedMark } from './SharedMark';
import { useStrings } from './strings';

export interface SidebarProps {
  index: ConversationIndex;
  /** The archived conversations, shown in their own view (SPEC §10); without it there is no such view. */
  archivedIndex?: ConversationIndex;
  activeId: string | null;
  /** A conversation was chosen (null: a new chat). */
  onSelect(id: string | null): void;
  /** The link of a conversation, for hosts that route (open in a new tab); without it rows are buttons in effect. */
  hrefFor?: (id: string) => string;
  /** Search across the conversations (SPEC §10); without it there is no search box. */
  search?: SearchBoxProps;
  /** Saves a conversation as a file (SPEC §10); without it the row menu has no export. */
  onExport?: (id: string, format: 'markdown' | 'json') => Promise<void>;
  /** Makes (true) or revokes (false) a conversation's live share link (SPEC §10); without it the menu has no sharing. */
  onShare?: (id: string, share: boolean) => Promise<string | null>;
}

export function Sidebar({
  index,
  archivedIndex,
  activeId,
  onSelect,
  hrefFor,
  search,
  onExport,
  onShare,
}: SidebarProps) {
  const [view, setView] = useState<'current' | 'archived'>('current');
  const strings = useStrings();
  const showArchived = view === 'archived' && archivedIndex;
  const shown = showArchived ? archivedIndex : index;
  // An archived row goes to the other list at once, not on the next refresh.
  const moved = (c: Conversation) => (c.archived ? archivedIndex : index)?.upsert(c);

  return (
    <nav className="sidebar" aria-label="Conversations">
      <button type="button" className="new-chat" onClick={() => onSelect(null)}>
        {strings.newChat}
      </button>
      {search && <SearchBox {...search} />}
      {showArchived && (
        <div className="archived-header">
          <button type="button" className="link" onClick={() => setView('current')}>
            ← Conversations
          </button>
          <h2 className="list-heading">Archived</h2>
        </div>
      )}
      <ConversationLists
        key={view}
        index={shown}
        activeId={activeId}
        onOpen={onSelect}
        hrefFor={hrefFor}
        onMoved={moved}
        onExport={onExport}
        onShare={onShare}
        sections={!showArchived}
      />
      {archivedIndex && !showArchived && (
        <button
          type="button"
          className="link archived-toggle"
          onClick={() => {
            setView('archived');
            void archivedIndex.refresh();
          }}
        >
          Archived conversations
        </button>
      )}
    </nav>
  );
}

interface ListsProps {
  index: ConversationIndex;
  activeId: string | null;
  onOpen(id: string | null): void;
  hrefFor: ((id: string) => string) | undefined;
  onMoved(c: Conversation): void;
  onExport: SidebarProps['onExport'];
  onShare: SidebarProps['onShare'];
  /** Pinned conversations under a heading of their own (the list in use; the archived view is one list). */
  sections: boolean;
}

function ConversationLists({ index, activeId, onOpen, hrefFor, onMoved, onExport, onShare, sections }: ListsProps) {
  const { conversations, loading, done, error } = useSyncExternalStore(index.subscribe, index.getSnapshot);
  const sentinel = useRef<HTMLLIElement>(null);

  useEffect(() => {
    const node = sentinel.current;
    if (!node || done) return;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) void index.loadMore();
    });
    observer.observe(node);
    return () => observer.disconnect();
  }, [index, done]);

  const pinned = sections ? conversations.filter((c) => c.pinned) : [];
  const rest = sections ? conversations.filter((c) => !c.pinned) : conversations;
  const row = (c: Conversation) => (
    <ConversationRow
      key={c.id}
      conversation={c}
      active={c.id === activeId}
      index={index}
      onOpen={onOpen}
      onMoved={onMoved}
      onExport={onExport}
      onShare={onShare}
      href={hrefFor?.(c.id) ?? `#${c.id}`}
    />
  );

  return (
    <div className="conversation-lists">
      {pinned.length > 0 && (
        <section aria-label="Pinned">
          <h2 className="list-heading">Pinned</h2>
          <ul className="conversation-list pinned-list">{pinned.map(row)}</ul>
          <h2 className="list-heading">Recent</h2>
        </section>
      )}
      <ul className="conversation-list">
        {rest.map(row)}
        {!done && (
          <li ref={sentinel} className="list-status" aria-live="polite">
            {loading ? 'Loading…' : ''}
          </li>
        )}
        {done && conversations.length === 0 && (
          <li className="list-status">{index.archived ? 'No archived conversations.' : 'No conversations yet.'}</li>
        )}
      </ul>
      {error && (
        <p className="list-error" role="alert">
          {error}{' '}
          <button type="button" className="link" onClick={() => void index.loadMore()}>
            Try again
          </button>
        </p>
      )}
    </div>
  );
}

interface RowProps {
  conversation: Conversation;
  active: boolean;
  index: ConversationIndex;
  onOpen(id: string | null): void;
  onMoved(c: Conversation): void;
  onExport: SidebarProps['onExport'];
  onShare: SidebarProps['onShare'];
  href: string;
}

function ConversationRow({ conversation, active, index, onOpen, onMoved, onExport, onShare, href }: RowProps) {
  const [mode, setMode] = useState<'view' | 'rename' | 'confirm-delete'>('view');
  const [problem, setProblem] = useState<string | null>(null);
  const [shared, setShared] = useState<{ url: string; copied: boolean } | 'stopped' | null>(null);
  const menuButton = useRef<HTMLButtonElement>(null);

  const backToView = () => {
    setMode('view');
    setProblem(null);
    requestAnimationFrame(() => menuButton.current?.focus());
  };

  const remove = async () => {
    try {
      await index.remove(conversation.id);
      if (active) onOpen(null);
    } catch (error) {
      setProblem(error instanceof ChatError ? error.message : 'Could not delete.');
    }
  };

  const change = async (what: ConversationChange) => {
    setProblem(null);
    try {
      onMoved(await index.update(conversation.id, what));
    } catch (error) {
      setProblem(error instanceof ChatError ? error.message : 'Could not change the conversation.');
    }
  };

  if (mode === 'rename') {
    return (
      <li className="conversation-row editing">
        <RenameForm
          conversation={conversation}
          onDone={backToView}
          onSave={async (title) => {
            await index.rename(conversation.id, title);
            backToView();
          }}
        />
      </li>
    );
  }

  if (mode === 'confirm-delete') {
    return (
      // Escape cancels, as it does in the rename form: the confirmation has the focus (its Cancel button).
      <li
        className="conversation-row confirming"
        onKeyDown={(event) => {
          if (event.key === 'Escape') backToView();
        }}
      >
        <span className="confirm-text">Delete “{conversation.title}”?</span>
        <div className="row-actions">
          <button type="button" className="danger" onClick={() => void remove()}>
            Delete
          </button>
          {/* biome-ignore lint/a11y/noAutofocus: the confirmation replaces the button that had focus */}
          <button type="button" onClick={backToView} autoFocus>
            Cancel
          </button>
        </div>
        {problem && (
          <p role="alert" className="row-problem">
            {problem}
          </p>
        )}
      </li>
    );
  }

  return (
    <li className={`conversation-row${active ? ' active' : ''}${conversation.pinned ? ' pinned' : ''}`}>
      <a
        href={href}
        aria-current={active ? 'page' : undefined}
        onClick={(event) => {
          if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
          event.preventDefault();
          onOpen(conversation.id);
        }}
      >
        <span className="title">{conversation.title}</span>
        {conversation.shared && <SharedMark compact />}
        {conversation.streaming && (
          <span className="dot">
            <span className="visually-hidden">(replying)</span>
          </span>
        )}
      </a>
      <div className="row-actions">
        <button
          type="button"
          ref={menuButton}
          className="icon"
          aria-label={`Rename “${conversation.title}”`}
          title="Rename"
          onClick={() => setMode('rename')}
        >
          <svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
            <path d="M11.5 1.5l3 3L5 14H2v-3z" fill="none" stroke="currentColor" strokeWidth="1.4" />
          </svg>
        </button>
        <button
          type="button"
          className="icon"
          aria-label={`Delete “${conversation.title}”`}
          title="Delete"
          onClick={() => setMode('confirm-delete')}
        >
          <svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
            <path d="M2.5 4h11M6 4V2.5h4V4M4 4l.8 9.5h6.4L12 4" fill="none" stroke="currentColor" strokeWidth="1.4" />
          </svg>
        </button>
        <RowMenu
          conversation={conversation}
          onChange={(what) => void change(what)}
          onExport={
            onExport &&
            ((format) =>
              void onExport(conversation.id, format).catch((error: unknown) =>
                setProblem(error instanceof ChatError ? error.message : 'Could not export.'),
              ))
          }
          onShare={
            onShare &&
            ((share) => {
              setProblem(null);
              setShared(null);
              void onShare(conversation.id, share)
                .then((url) => {
                  setShared(url ? { url, copied: copy(url) } : 'stopped');
                  // The row's mark follows at once; the room also tells the conversation's open tabs.
                  onMoved({ ...conversation, shared: url !== null });
                })
                .catch((error: unknown) =>
                  setProblem(error instanceof ChatError ? error.message : 'Could not change the share link.'),
                );
            })
          }
        />
      </div>
      {problem && (
        <p role="alert" className="row-problem">
          {problem}
        </p>
      )}
      {shared && (
        <output className="row-share">
          {shared === 'stopped' ? (
            'Sharing stopped: the link no longer works.'
          ) : (
            <>
              {shared.copied ? 'Live link copied: ' : 'Live link: '}
              <a href={shared.url} target="_blank" rel="noreferrer noopener">
                {shared.url}
              </a>
            </>
          )}
        </output>
      )}
    </li>
  );
}

interface RowMenuProps {
  conversation: Conversation;
  onChange(change: ConversationChange): void;
  onExport: ((format: 'markdown' | 'json') => void) | undefined;
  onShare: ((share: boolean) => void) | undefined;
}

/** Copies text to the clipboard when the page may; whether it was tried (the link is shown either way). */
function copy(text: string): boolean {
  if (!navigator.clipboard) return false;
  navigator.clipboard.writeText(text).catch(() => undefined);
  return true;
}

/** The row's further actions: pin, archive, export. Closes on a choice, on Escape and when focus leaves it. */
function RowMenu({ conversation, onChange, onExport, onShare }: RowMenuProps) {
  const [open, setOpen] = useState(false);
  const menuId = useId();
  const toggle = useRef<HTMLButtonElement>(null);
  const close = (refocus: boolean) => {
    setOpen(false);
    if (refocus) toggle.current?.focus();
  };
  const choose = (change: ConversationChange) => {
    close(true);
    onChange(change);
  };
  const label = `“${conversation.title}”`;
  const wrap = useRef<HTMLDivElement>(null);
  const onBlur = (e: FocusEvent) => {
    if (!wrap.current?.contains(e.relatedTarget as Node | null)) setOpen(false);
  };
  const onKey = (e: KeyboardEvent) => {
    if (e.key === 'Escape' && open) {
      e.stopPropagation();
      close(true);
    }
  };

  return (
    <div className="row-menu" ref={wrap}>
      <button
        type="button"
        ref={toggle}
        className="icon"
        aria-label={`More actions for ${label}`}
        title="More"
        aria-haspopup="menu"
        aria-expanded={open}
        aria-controls={open ? menuId : undefined}
        onClick={() => setOpen((o) => !o)}
        onKeyDown={onKey}
        onBlur={onBlur}
      >
        <svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
          <circle cx="3" cy="8" r="1.3" fill="currentColor" />
          <circle cx="8" cy="8" r="1.3" fill="currentColor" />
          <circle cx="13" cy="8" r="1.3" fill="currentColor" />
        </svg>
      </button>
      {open && (
        <div
          id={menuId}
          role="menu"
          className="menu"
          aria-label={`Actions for ${label}`}
          onKeyDown={onKey}
          onBlur={onBlur}
        >
          {!conversation.archived && (
            <button type="button" role="menuitem" onClick={() => choose({ pinned: !conversation.pinned })}>
              {conversation.pinned ? 'Unpin' : 'Pin'}
            </button>
          )}
          <button type="button" role="menuitem" onClick={() => choose({ archived: !conversation.archived })}>
            {conversation.archived ? 'Unarchive' : 'Archive'}
          </button>
          {onExport && (
            <>
              <button
                type="button"
                role="menuitem"
                onClick={() => {
                  close(true);
                  onExport('markdown');
                }}
              >
                Export as Markdown
              </button>
              <button
                type="button"
                role="menuitem"
                onClick={() => {
                  close(true);
                  onExport('json');
                }}
              >
                Export as JSON
              </button>
            </>
          )}
          {onShare && (
            <>
              <button
                type="button"
                role="menuitem"
                onClick={() => {
                  close(true);
                  onShare(true);
                }}
              >
                Share live link
              </button>
              {conversation.shared && (
                <button
                  type="button"
                  role="menuitem"
                  onClick={() => {
                    close(true);
                    onShare(false);
                  }}
                >
                  Stop sharing
                </button>
              )}
            </>
          )}
        </div>
      )}
    </div>
  );
}

interface RenameFormProps {
  conversation: Conversation;
  onSave(title: string): Promise<void>;
  onDone(): void;
}

function RenameForm({ conversation, onSave, onDone }: RenameFormProps) {
  const [title, setTitle] = useState(conversation.title);
  const [problem, setProblem] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const trimmed = title.trim();
  const tooLong = codePointLength(trimmed) > MAX_TITLE_CODE_POINTS;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (trimmed === conversation.title) return onDone();
    if (!trimmed || tooLong) {
      setProblem(trimmed ? `At most ${MAX_TITLE_CODE_POINTS} characters.` : 'A title cannot be empty.');
      return;
    }
    setSaving(true);
    try {
      await onSave(trimmed);
    } catch (error) {
      setProblem(error instanceof ChatError ? error.message : 'Could not rename.');
      setSaving(false);
    }
  };

  return (
    <form className="rename-form" onSubmit={(e) => void submit(e)}>
      <label className="visually-hidden" htmlFor={`rename-${conversation.id}`}>
        New title
      </label>
      <input
        id={`rename-${conversation.id}`}
        value={title}
        // biome-ignore lint/a11y/noAutofocus: the person just asked to rename this row
        autoFocus
        onFocus={(e) => e.currentTarget.select()}
        onChange={(e) => setTitle(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === 'Escape') onDone();
        }}
        aria-invalid={tooLong || !trimmed}
        disabled={saving}
      />
      <div className="row-actions">
        <button type="submit" disabled={saving}>
          Save
        </button>
        <button type="button" onClick={onDone}>
          Cancel
        </button>
      </div>
      {problem && (
        <p role="alert" className="row-problem">
          {problem}
        </p>
      )}
    </form>
  );
}
