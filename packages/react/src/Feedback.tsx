import { type ChatItem, codePointLength, type LiveConversation, MAX_COMMENT_CODE_POINTS } from '@agent-chat/client';
import { type KeyboardEvent, type RefObject, useEffect, useId, useRef, useState } from 'react';
import { useStrings } from './strings';

/** Feedback is given on replies that have ended (the room refuses a reply still streaming). */
export const takesFeedback = (item: ChatItem): boolean =>
  item.role === 'assistant' && item.id !== null && item.branch !== null && item.status !== 'streaming';

const THUMB =
  'M2 7h2.5v7H2zM4.5 7l3-5.5c1 0 1.8.8 1.6 1.8L8.6 6H13a1.2 1.2 0 0 1 1.2 1.4l-1 5.4A1.2 1.2 0 0 1 12 14H4.5';

function ThumbIcon({ down = false }: { down?: boolean }) {
  return (
    <svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
      <path d={THUMB} stroke="currentColor" strokeWidth="1.3" transform={down ? 'rotate(180 8 8)' : undefined} />
    </svg>
  );
}

/**
 * Thumbs up and down on a reply (SPEC §9), pressed state from the reply as every tab sees it: the same thumb again
 * removes the rating. Once rated, a button opens the comment box.
 */
export function Thumbs({
  item,
  store,
  commenting,
  onComment,
  commentButton,
}: {
  item: ChatItem;
  store: LiveConversation;
  commenting: boolean;
  onComment: () => void;
  commentButton: RefObject<HTMLButtonElement | null>;
}) {
  const strings = useStrings();
  const id = item.id;
  if (!id) return null;
  const current = item.feedback;
  const press = (rating: 'up' | 'down') =>
    void store.rate(id, current?.rating === rating ? null : { rating, comment: current?.comment ?? null });
  return (
    <fieldset className="thumbs" aria-label={strings.rateReply}>
      <button
        type="button"
        className="icon"
        aria-pressed={current?.rating === 'up'}
        aria-label={strings.goodReply}
        title={strings.goodReply}
        onClick={() => press('up')}
      >
        <ThumbIcon />
      </button>
      <button
        type="button"
        className="icon"
        aria-pressed={current?.rating === 'down'}
        aria-label={strings.badReply}
        title={strings.badReply}
        onClick={() => press('down')}
      >
        <ThumbIcon down />
      </button>
      {current && !commenting && (
        <button type="button" className="link" ref={commentButton} onClick={onComment}>
          {current.comment ? strings.editComment : strings.addComment}
        </button>
      )}
    </fieldset>
  );
}

/** The rated reply's comment as given, under the reply. */
export function FeedbackComment({ item }: { item: ChatItem }) {
  const strings = useStrings();
  const comment = item.feedback?.comment;
  if (!comment) return null;
  return (
    <p className="feedback-comment">
      <span className="visually-hidden">{strings.yourComment} </span>
      {comment}
    </p>
  );
}

/** The comment on a rating: Enter saves (empty: no comment), Shift+Enter breaks the line, Esc cancels. */
export function CommentBox({ item, store, onDone }: { item: ChatItem; store: LiveConversation; onDone: () => void }) {
  const strings = useStrings();
  const [draft, setDraft] = useState(item.feedback?.comment ?? '');
  const [problem, setProblem] = useState<string | null>(null);
  const box = useRef<HTMLTextAreaElement>(null);
  const id = useId();
  useEffect(() => box.current?.focus(), []);
  const save = () => {
    const rating = item.feedback?.rating;
    if (!item.id || !rating) return onDone();
    const comment = draft.trim();
    if (codePointLength(comment) > MAX_COMMENT_CODE_POINTS) return setProblem(strings.commentTooLong);
    void store.rate(item.id, { rating, comment: comment || null });
    onDone();
  };
  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      event.stopPropagation();
      onDone();
      return;
    }
    if (event.key !== 'Enter' || event.shiftKey || event.nativeEvent.isComposing) return;
    event.preventDefault();
    save();
  };
  return (
    <form
      className="comment-box"
      aria-label={strings.addComment}
      onSubmit={(event) => {
        event.preventDefault();
        save();
      }}
    >
      <textarea
        ref={box}
        value={draft}
        onChange={(event) => setDraft(event.target.value)}
        onKeyDown={onKeyDown}
        aria-label={strings.commentLabel}
        aria-describedby={problem ? `${id}-problem` : undefined}
        rows={2}
      />
      <div className="edit-actions">
        {problem && (
          <span id={`${id}-problem`} className="status error" role="alert">
            {problem}
          </span>
        )}
        <button type="button" onClick={onDone}>
          {strings.cancel}
        </button>
        <button type="submit" className="send">
          {strings.saveComment}
        </button>
      </div>
    </form>
  );
}
