import {
  type ChatSnapshot,
  codePointLength,
  type LiveConversation,
  MAX_CONTENT_CODE_POINTS,
  type SendRefusal,
} from '@agent-chat/client';
import { type FormEvent, type KeyboardEvent, useEffect, useId, useRef, useState } from 'react';
import { useSecondsUntil } from './countdown';

const REFUSALS: Record<SendRefusal, string> = {
  empty: 'Type a message first.',
  too_long: `A message can be at most ${MAX_CONTENT_CODE_POINTS.toLocaleString('en')} characters.`,
  busy: 'Wait for the reply to finish, or stop it.',
};

export function Composer({ store, snapshot }: { store: LiveConversation; snapshot: ChatSnapshot }) {
  // Ids of this composer's own: a host may show two panes on one page.
  const id = useId();
  const [draft, setDraft] = useState('');
  const [refusal, setRefusal] = useState<SendRefusal | null>(null);
  const input = useRef<HTMLTextAreaElement>(null);
  const length = codePointLength(draft);
  const over = length > MAX_CONTENT_CODE_POINTS;
  const rateLimited = useSecondsUntil(snapshot.notice?.code === 'rate_limited' ? snapshot.notice.retryAt : null);

  useEffect(() => {
    input.current?.focus();
  }, []);

  const submit = (event?: FormEvent) => {
    event?.preventDefault();
    const refused = store.send(draft);
    setRefusal(refused);
    if (refused) return;
    setDraft('');
    input.current?.focus();
  };

  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    // Enter sends, Shift+Enter breaks the line; an IME composition's Enter picks a candidate, not send.
    if (event.key !== 'Enter' || event.shiftKey || event.nativeEvent.isComposing) return;
    event.preventDefault();
    submit();
  };

  const counterClass = over ? 'counter over' : length > MAX_CONTENT_CODE_POINTS * 0.9 ? 'counter near' : 'counter';

  return (
    <form className="composer" onSubmit={submit} aria-label="Send a message">
      <label htmlFor={`${id}-input`} className="visually-hidden">
        Message
      </label>
      <textarea
        id={`${id}-input`}
        ref={input}
        value={draft}
        rows={1}
        placeholder="Message the agent…  (Enter to send, Shift+Enter for a new line)"
        onChange={(e) => {
          setDraft(e.currentTarget.value);
          if (refusal) setRefusal(null);
        }}
        onKeyDown={onKeyDown}
        aria-invalid={over}
        aria-describedby={`${id}-counter ${id}-problem`}
      />
      <div className="composer-bar">
        <span id={`${id}-counter`} className={counterClass} aria-live={over ? 'polite' : 'off'}>
          {length.toLocaleString('en')} / {MAX_CONTENT_CODE_POINTS.toLocaleString('en')}
          {over && ` — ${(length - MAX_CONTENT_CODE_POINTS).toLocaleString('en')} too many`}
        </span>
        <output id={`${id}-problem`} className="composer-problem">
          {refusal ? REFUSALS[refusal] : ''}
        </output>
        {snapshot.streaming ? (
          <button type="button" className="stop" onClick={() => void store.stop()}>
            ■ Stop
          </button>
        ) : (
          <button type="submit" className="send" disabled={over || rateLimited > 0}>
            {rateLimited > 0 ? `Wait ${rateLimited} s` : 'Send'}
          </button>
        )}
      </div>
    </form>
  );
}
