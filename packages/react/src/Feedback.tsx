import { type ChatItem, codePointLength, type LiveConversation, MAX_COMMENT_CODE_POINTS } from '@agent-chat/client';
import { type RefObject, useState } from 'react';
import { useStrings } from './strings';
import { TextBox } from './TextBox';

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
      {(['up', 'down'] as const).map((rating) => (
        <button
          key={rating}
          type="button"
          className="icon"
          aria-pressed={current?.rating === rating}
          aria-label={rating === 'up' ? strings.goodReply : strings.badReply}
          title={rating === 'up' ? strings.goodReply : strings.badReply}
          onClick={() => press(rating)}
        >
          <ThumbIcon down={rating === 'down'} />
        </button>
      ))}
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
  const save = () => {
    const rating = item.feedback?.rating;
    if (!item.id || !rating) return onDone();
    const comment = draft.trim();
    if (codePointLength(comment) > MAX_COMMENT_CODE_POINTS) return setProblem(strings.commentTooLong);
    void store.rate(item.id, { rating, comment: comment || null });
    onDone();
  };
  return (
    <TextBox
      className="comment-box"
      label={strings.addComment}
      boxLabel={strings.commentLabel}
      draft={draft}
      onDraft={setDraft}
      problem={problem}
      submitLabel={strings.saveComment}
      cancelLabel={strings.cancel}
      onSubmit={save}
      onCancel={onDone}
    />
  );
}
