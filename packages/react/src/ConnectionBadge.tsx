import type { LinkState } from '@agent-chat/client';

const LABELS: Record<LinkState, string | null> = {
  idle: null,
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  sse: 'Fallback: SSE',
  polling: 'Fallback: polling',
  offline: 'Offline',
  signed_out: 'Signed out',
};

const HINTS: Record<LinkState, string> = {
  idle: '',
  connecting: 'Opening a live connection.',
  connected: 'Live over WebSocket.',
  reconnecting: 'The live connection dropped; trying again. Nothing you send is lost.',
  sse: 'WebSockets are not getting through; replies stream over HTTP instead.',
  polling: 'Live connections are not getting through; checking for new messages every few seconds.',
  offline: 'No network. Messages will load again when the connection is back.',
  signed_out: 'No sign-in was handed over; nothing is loaded until you sign in again.',
};

export function ConnectionBadge({ link }: { link: LinkState }) {
  const label = LABELS[link];
  return (
    <output className={`connection ${link}`} title={HINTS[link]} data-link={link}>
      {label && (
        <>
          <span className="connection-dot" aria-hidden="true" />
          {label}
        </>
      )}
    </output>
  );
}
