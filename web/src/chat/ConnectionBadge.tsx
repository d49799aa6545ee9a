import type { LinkState } from './store';

const LABELS: Record<LinkState, string | null> = {
  idle: null,
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  sse: 'Fallback: SSE',
  polling: 'Fallback: polling',
  offline: 'Offline',
};

const HINTS: Record<LinkState, string> = {
  idle: '',
  connecting: 'Opening a live connection.',
  connected: 'Live over WebSocket.',
  reconnecting: 'The live connection dropped; trying again. Nothing you send is lost.',
  sse: 'WebSockets are not getting through; replies stream over HTTP instead.',
  polling: 'Live connections are not getting through; checking for new messages every few seconds.',
  offline: 'No network. Messages will load again when the connection is back.',
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
