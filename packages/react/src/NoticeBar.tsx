import type { Notice } from '@agent-chat/client';
import { useSecondsUntil } from './countdown';

/** What went wrong, in the person's terms; the server's message where we have nothing better. */
function explain(notice: Notice, seconds: number): string {
  switch (notice.code) {
    case 'rate_limited':
      return seconds > 0
        ? `You are sending messages faster than allowed. You can send again in ${seconds} s.`
        : 'You can send again now.';
    case 'too_many_connections':
      return 'This conversation is open in too many tabs. Close some and it will reconnect.';
    case 'reply_in_progress':
      return 'The agent is still answering. Wait for the reply to finish, or stop it.';
    case 'payload_too_large':
      return 'That message is too long to send.';
    case 'unavailable':
      return 'The chat service is temporarily unavailable. Try again in a moment.';
    case 'network':
      return 'The server cannot be reached. Check your connection; the page keeps trying.';
    case 'idempotency_mismatch':
      return 'That message could not be sent again because it changed. Send it as a new message.';
    case 'forbidden':
      return 'This page is not allowed to connect to the chat service from here.';
    default:
      return notice.message;
  }
}

export function NoticeBar({ notice, onDismiss }: { notice: Notice | null; onDismiss(): void }) {
  const seconds = useSecondsUntil(notice?.retryAt ?? null);
  if (!notice) return null;
  return (
    <div className={`notice ${notice.code}`} role="alert">
      <span>{explain(notice, seconds)}</span>
      <button type="button" className="icon" aria-label="Dismiss" onClick={onDismiss}>
        ×
      </button>
    </div>
  );
}
