import type { ChatItem, LiveConversation } from '@agent-chat/client';
import { memo, useState } from 'react';
import { Markdown } from './markdown/Markdown';

type Part = ChatItem['parts'][number];

function field(part: Part, name: string): unknown {
  return (part as Record<string, unknown>)[name];
}

function text(part: Part): string {
  const value = field(part, 'text');
  return typeof value === 'string' ? value : '';
}

function json(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value, null, 2);
  } catch {
    return String(value);
  }
}

const TOOL_STATES: Record<string, string> = {
  'input-streaming': 'preparing…',
  'input-available': 'running…',
  'approval-requested': 'waiting for approval',
  'output-available': 'done',
  'output-error': 'failed',
  'output-denied': 'denied',
};

function ToolCall({ part }: { part: Part }) {
  const name = part.type === 'dynamic-tool' ? String(field(part, 'toolName') ?? 'tool') : part.type.slice(5);
  const state = String(field(part, 'state') ?? '');
  const input = field(part, 'input');
  const output = field(part, 'output');
  const errorText = field(part, 'errorText');
  return (
    <details className={`tool-call ${state}`} open={state !== 'output-available'}>
      <summary>
        <span className="tool-icon" aria-hidden="true">
          ⚙
        </span>{' '}
        <code>{name}</code> <span className="tool-state">{TOOL_STATES[state] ?? state}</span>
      </summary>
      {input !== undefined && (
        <div className="tool-io">
          <span className="tool-label">Input</span>
          <pre>{json(input)}</pre>
        </div>
      )}
      {output !== undefined && (
        <div className="tool-io">
          <span className="tool-label">Output</span>
          <pre>{json(output)}</pre>
        </div>
      )}
      {typeof errorText === 'string' && (
        <div className="tool-io error">
          <span className="tool-label">Error</span>
          <pre>{errorText}</pre>
        </div>
      )}
    </details>
  );
}

function PartView({ part, role, streaming }: { part: Part; role: ChatItem['role']; streaming: boolean }) {
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
  if (part.type === 'dynamic-tool' || part.type.startsWith('tool-')) return <ToolCall part={part} />;
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

interface MessageViewProps {
  item: ChatItem;
  canRetry: boolean;
  /** Absent where the conversation is only shown (a share link): no retry. */
  store?: LiveConversation;
  /** The message a search opened: marked. */
  found?: boolean;
}

export const MessageView = memo(function MessageView({ item, canRetry, store, found = false }: MessageViewProps) {
  const [copied, setCopied] = useState(false);
  const streaming = item.status === 'streaming';
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
      <div className="bubble">
        {item.parts.map((part, i) => (
          // Parts only ever grow at the end, so the index is a stable key.
          // biome-ignore lint/suspicious/noArrayIndexKey: see above
          <PartView key={i} part={part} role={item.role} streaming={streaming} />
        ))}
        {streaming && item.parts.length === 0 && <p className="thinking">Thinking…</p>}
      </div>
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
      </div>
    </article>
  );
});
