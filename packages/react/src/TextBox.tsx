import { type KeyboardEvent, useEffect, useId, useRef } from 'react';

interface TextBoxProps {
  /** The form's class (its look) and its accessible name. */
  className: string;
  label: string;
  /** The textarea's accessible name: what to write and how the keys work. */
  boxLabel: string;
  draft: string;
  onDraft: (draft: string) => void;
  /** Why the last submit was refused, shown beside the buttons and announced; null when none. */
  problem: string | null;
  submitLabel: string;
  cancelLabel: string;
  onSubmit: () => void;
  onCancel: () => void;
}

/**
 * A text written in place (an edit, a comment): focused with the caret at the end; Enter submits, Shift+Enter
 * breaks the line, Esc cancels and goes no further (a dialog or the page's own Esc does not see it).
 */
export function TextBox(props: TextBoxProps) {
  const box = useRef<HTMLTextAreaElement>(null);
  const id = useId();
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    el.focus();
    el.setSelectionRange(el.value.length, el.value.length);
  }, []);
  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      event.stopPropagation();
      props.onCancel();
      return;
    }
    if (event.key !== 'Enter' || event.shiftKey || event.nativeEvent.isComposing) return;
    event.preventDefault();
    props.onSubmit();
  };
  return (
    <form
      className={props.className}
      aria-label={props.label}
      onSubmit={(event) => {
        event.preventDefault();
        props.onSubmit();
      }}
    >
      <textarea
        ref={box}
        value={props.draft}
        onChange={(event) => props.onDraft(event.target.value)}
        onKeyDown={onKeyDown}
        aria-label={props.boxLabel}
        aria-describedby={props.problem ? `${id}-problem` : undefined}
        rows={2}
      />
      <div className="edit-actions">
        {props.problem && (
          <span id={`${id}-problem`} className="status error" role="alert">
            {props.problem}
          </span>
        )}
        <button type="button" onClick={props.onCancel}>
          {props.cancelLabel}
        </button>
        <button type="submit" className="send">
          {props.submitLabel}
        </button>
      </div>
    </form>
  );
}
