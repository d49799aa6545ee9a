import {
  ChatError,
  type Conversation,
  type ConversationIndex,
  codePointLength,
  MAX_TITLE_CODE_POINTS,
} from '@agent-chat/client';
import { type FormEvent, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { useStrings } from './strings';

export interface SidebarProps {
  index: ConversationIndex;
  activeId: string | null;
  /** A conversation was chosen (null: a new chat). */
  onSelect(id: string | null): void;
  /** The link of a conversation, for hosts that route (open in a new tab); without it rows are buttons in effect. */
  hrefFor?: (id: string) => string;
}

export function Sidebar({ index, activeId, onSelect, hrefFor }: SidebarProps) {
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

  const open = onSelect;
  const strings = useStrings();

  return (
    <nav className="sidebar" aria-label="Conversations">
      <button type="button" className="new-chat" onClick={() => open(null)}>
        {strings.newChat}
      </button>
      <ul className="conversation-list">
        {conversations.map((c) => (
          <ConversationRow
            key={c.id}
            conversation={c}
            active={c.id === activeId}
            index={index}
            onOpen={open}
            href={hrefFor?.(c.id) ?? `#${c.id}`}
          />
        ))}
        {!done && (
          <li ref={sentinel} className="list-status" aria-live="polite">
            {loading ? 'Loading…' : ''}
          </li>
        )}
        {done && conversations.length === 0 && <li className="list-status">No conversations yet.</li>}
      </ul>
      {error && (
        <p className="list-error" role="alert">
          {error}{' '}
          <button type="button" className="link" onClick={() => void index.loadMore()}>
            Try again
          </button>
        </p>
      )}
    </nav>
  );
}

interface RowProps {
  conversation: Conversation;
  active: boolean;
  index: ConversationIndex;
  onOpen(id: string | null): void;
  href: string;
}

function ConversationRow({ conversation, active, index, onOpen, href }: RowProps) {
  const [mode, setMode] = useState<'view' | 'rename' | 'confirm-delete'>('view');
  const [problem, setProblem] = useState<string | null>(null);
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
      <li className="conversation-row confirming">
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
    <li className={`conversation-row${active ? ' active' : ''}`}>
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
      </div>
    </li>
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
