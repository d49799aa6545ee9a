import type { ChatItem, LiveConversation } from '@agent-chat/client';
import { memo, useRef, useState } from 'react';
import { CommentBox, FeedbackComment, Thumbs, takesFeedback } from './Feedback';
import { Markdown } from './markdown/Markdown';
import { useStrings } from './strings';
import { TextBox } from './TextBox';
import { type Approve, ToolCall } from './ToolCall';

type Part = ChatItem['parts'][number];

function field(part: Part, name: string): unknown {
  return (part as Record<string, unknown>)[name];
}

function text(part: Part): string {
  const value = field(part, 'text');
  return typeof value === 'string' ? value : '';
}

function PartView({
  part,
  role,
  streaming,
  approve,
}: {
  part: Part;
  role: ChatItem['role'];
  streaming: boolean;
  approve: Approve | undefined;
}) {
  if (part.type === 'text') {
    return role === 'user' ? (
      <p className="user-text">{text(part)}</p>
    ) : (
      <Markdown text={text(part)} streaming={streaming} />
    );
  }
  if (part.type === 'reasoning') {
    return (
      <details className="reasoning">
        <summary>Reasoning</summary>
        <p>{text(part)}</p>
      </details>
    );
  }
  if (part.type === 'dynamic-tool' || part.type.startsWith('tool-')) return <ToolCall part={part} approve={approve} />;
  if (part.type === 'source-url') {
    const url = String(field(part, 'url') ?? '');
    return (
      <a className="source" href={url} target="_blank" rel="noreferrer noopener">
        {String(field(part, 'title') ?? url)}
      </a>
    );
  }
  if (part.type === 'file') {
    const url = String(field(part, 'url') ?? '');
    return (
      <a className="source" href={url} target="_blank" rel="noreferrer noopener">
        {String(field(part, 'filename') ?? 'file')}
      </a>
    );
  }
  return null;
}

function StatusLine({ item }: { item: ChatItem }) {
  switch (item.status) {
    case 'sending':
      return <span className="status">Sending…</span>;
    case 'streaming':
      return (
        <span className="status typing">
          <span className="visually-hidden">The agent is writing</span>
          <span aria-hidden="true" />
          <span aria-hidden="true" />
          <span aria-hidden="true" />
        </span>
      );
    case 'stopped':
      return <span className="status">Stopped</span>;
    case 'failed':
    case 'error':
      return (
        <span className="status error" role="alert">
          {item.status === 'failed' ? 'Not sent: ' : 'The reply failed: '}
          {item.error?.message ?? 'something went wrong.'}
        </span>
      );
    default:
      return null;
  }
}

/** `‹ 2/3 ›`: this message's place among its versions (edits, regenerations), and buttons to the others. */
function BranchPicker({ item, store, busy }: { item: ChatItem; store: LiveConversation; busy: boolean }) {
  const branch = item.branch;
  if (!branch || branch.count < 2 || !item.id) return null;
  const id = item.id;
  const what = item.role === 'user' ? 'message' : 'reply';
  return (
    <fieldset className="branch-picker" aria-label={`Version ${branch.index} of ${branch.count} of this ${what}`}>
      <button
        type="button"
        className="icon"
        aria-label={`Previous version of this ${what}`}
        disabled={busy || branch.index <= 1}
        onClick={() => void store.switchBranch(id, -1)}
      >
        ‹
      </button>
      <span className="branch-index" aria-hidden="true">
        {branch.index}/{branch.count}
      </span>
      <button
        type="button"
        className="icon"
        aria-label={`Next version of this ${what}`}
        disabled={busy || branch.index >= branch.count}
        onClick={() => void store.switchBranch(id, 1)}
      >
        ›
      </button>
    </fieldset>
  );
}

/** A user message being edited: Enter sends the edit as a new branch, Shift+Enter breaks the line, Esc cancels. */
function EditBox({
  item,
  store,
  onDone,
}: {
  item: ChatItem;
  store: LiveConversation;
  onDone: (sent: boolean) => void;
}) {
  const [draft, setDraft] = useState(item.text);
  const [problem, setProblem] = useState<string | null>(null);
  const submit = () => {
    if (!item.id) return;
    const refusal = store.edit(item.id, draft);
    if (refusal === null) onDone(true);
    else
      setProblem(
        refusal === 'busy'
          ? 'Wait for the reply to finish.'
          : refusal === 'too_long'
            ? 'The message is too long.'
            : 'Write something first.',
      );
  };
  return (
    <TextBox
      className="edit-box"
      label="Edit message"
      boxLabel="Edited message (Enter to send, Shift+Enter for a new line, Esc to cancel)"
      draft={draft}
      onDraft={setDraft}
      problem={problem}
      submitLabel="Send"
      cancelLabel="Cancel"
      onSubmit={submit}
      onCancel={() => onDone(false)}
    />
  );
}

interface MessageViewProps {
  item: ChatItem;
  canRetry: boolean;
  /** Absent where the conversation is only shown (a share link): no retry, edit, regenerate or switch. */
  store?: LiveConversation;
  /** A reply streams: no edit, regenerate or switch of branch now (the room would refuse them). */
  busy?: boolean;
  /** The message a search opened: marked. */
  found?: boolean;
}

export const MessageView = memo(function MessageView({
  item,
  canRetry,
  store,
  found = false,
  busy = false,
}: MessageViewProps) {
  const [copied, setCopied] = useState(false);
  const [editing, setEditing] = useState(false);
  const [commenting, setCommenting] = useState(false);
  const editButton = useRef<HTMLButtonElement>(null);
  const commentButton = useRef<HTMLButtonElement>(null);
  const strings = useStrings();
  const committed = item.id !== null && item.branch !== null;
  const canEdit = store !== undefined && committed && item.role === 'user' && !busy;
  const canRegenerate =
    store !== undefined &&
    committed &&
    item.role === 'assistant' &&
    !busy &&
    (item.status === 'complete' || item.status === 'error');
  const endEdit = (sent: boolean) => {
    setEditing(false);
    // Back to the Edit button after a cancel; after a send the composer is the natural next place.
    if (!sent) requestAnimationFrame(() => editButton.current?.focus());
  };
  const endComment = () => {
    setCommenting(false);
    requestAnimationFrame(() => commentButton.current?.focus());
  };
  const streaming = item.status === 'streaming';
  const rated = store !== undefined && takesFeedback(item);
  const showRetry =
    store !== undefined &&
    canRetry &&
    (item.status === 'failed' || item.status === 'error' || item.status === 'stopped');

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(item.text);
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    } catch {
      setCopied(false);
    }
  };

  return (
    <article
      className={`message ${item.role} ${item.status}${found ? ' found' : ''}`}
      aria-label={item.role === 'user' ? 'You said' : 'Agent replied'}
      data-status={item.status}
      data-message-id={item.id ?? undefined}
      aria-current={found ? 'true' : undefined}
      dir="auto"
    >
      {editing && store ? (
        <EditBox item={item} store={store} onDone={endEdit} />
      ) : (
        <div className="bubble">
          {item.parts.map((part, i) => (
            // Parts only ever grow at the end, so the index is a stable key.
            // biome-ignore lint/suspicious/noArrayIndexKey: see above
            <PartView key={i} part={part} role={item.role} streaming={streaming} approve={store?.approve} />
          ))}
          {streaming && item.parts.length === 0 && <p className="thinking">Thinking…</p>}
        </div>
      )}
      <div className="message-meta">
        <StatusLine item={item} />
        {item.text && !streaming && (
          <button type="button" className="link" onClick={() => void copy()} aria-label="Copy message">
            {copied ? 'Copied' : 'Copy'}
          </button>
        )}
        {showRetry && (
          <button type="button" className="link" onClick={() => store?.retry(item)}>
            Retry
          </button>
        )}
        {store && item.status === 'failed' && (
          <button type="button" className="link" onClick={() => store.dismiss(item)}>
            {strings.dismiss}
          </button>
        )}
        {canEdit && !editing && (
          <button
            type="button"
            className="link"
            ref={editButton}
            onClick={() => setEditing(true)}
            aria-label="Edit message"
          >
            Edit
          </button>
        )}
        {canRegenerate && !showRetry && item.id && (
          <button
            type="button"
            className="link"
            onClick={() => item.id && store?.regenerate(item.id)}
            aria-label="Regenerate reply"
          >
            Regenerate
          </button>
        )}
        {store && <BranchPicker item={item} store={store} busy={busy} />}
        {rated && (
          <Thumbs
            item={item}
            store={store}
            commenting={commenting}
            onComment={() => setCommenting(true)}
            commentButton={commentButton}
          />
        )}
      </div>
      {rated && commenting && item.feedback && <CommentBox item={item} store={store} onDone={endComment} />}
      {rated && !commenting && <FeedbackComment item={item} />}
    </article>
  );
});
