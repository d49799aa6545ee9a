import { type ApprovalAnswer, type ChatItem, type ToolApproval, toolApproval, toolName } from '@agent-chat/client';
import { useEffect, useId, useRef, useState } from 'react';
import { type ChatStrings, useStrings } from './strings';

type Part = ChatItem['parts'][number];

/** Answers an approval request; resolves with why it was not taken, or null. `LiveConversation.approve` fits. */
export type Approve = (answer: ApprovalAnswer) => Promise<{ code: string; message: string } | null>;

function field(part: Part, name: string): unknown {
  return (part as Record<string, unknown>)[name];
}

/** Tool input and output as text: JSON indented, shown as text (never as HTML). */
export function json(value: unknown): string {
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
  'output-available': 'done',
  'output-error': 'failed',
  'output-denied': 'denied',
};

/** What the call's header says of it: its state, with a person's answer where one was asked for. */
function stateLabel(state: string, approval: ToolApproval | null, strings: ChatStrings): string {
  if (!approval) return TOOL_STATES[state] ?? state;
  if (approval.answer === 'pending') return strings.approvalWaiting;
  const ran = state === 'output-available' || state === 'output-error' ? ` · ${TOOL_STATES[state]}` : '';
  if (approval.reason === 'remembered') {
    return approval.answer === 'approved' ? `${strings.approvalAllowedByRule}${ran}` : strings.approvalDeniedByRule;
  }
  if (approval.answer === 'denied') {
    return approval.reason === 'superseded' ? strings.approvalSuperseded : strings.approvalDenied;
  }
  return `${strings.approvalApproved}${ran}`;
}

/**
 * A tool call in a reply: its name, input, output or error, and, while the agent waits for a person's consent
 * (SPEC §9), Approve and Deny with "always allow in this conversation". Where `approve` is absent (a share link's
 * page) the request is only shown.
 */
export function ToolCall({ part, approve }: { part: Part; approve?: Approve | undefined }) {
  const strings = useStrings();
  const details = useRef<HTMLDetailsElement>(null);
  const summary = useRef<HTMLElement>(null);
  const answeredHere = useRef(false);
  const name = toolName(part);
  const state = String(field(part, 'state') ?? '');
  const approval = toolApproval(part);
  const input = field(part, 'input');
  const output = field(part, 'output');
  const errorText = field(part, 'errorText');
  const asking = approval?.answer === 'pending';
  useEffect(() => {
    if (asking || !answeredHere.current) return;
    answeredHere.current = false;
    // The buttons went away with the request: focus stays on this call rather than falling to the page.
    const active = document.activeElement;
    if (!active || active === document.body || details.current?.contains(active)) summary.current?.focus();
  }, [asking]);
  return (
    <details
      ref={details}
      className={`tool-call ${state}${approval ? ` approval-${approval.answer}` : ''}`}
      open={state !== 'output-available'}
    >
      <summary ref={summary}>
        <span className="tool-icon" aria-hidden="true">
          ⚙
        </span>{' '}
        <code>{name}</code> <span className="tool-state">{stateLabel(state, approval, strings)}</span>
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
      {asking && approve && (
        <ApprovalPrompt
          approvalId={approval.id}
          name={name}
          approve={approve}
          onAnswer={() => {
            answeredHere.current = true;
          }}
        />
      )}
    </details>
  );
}

/** Approve / Deny for one request; the answer shows in the header once the room has it (in every tab). */
function ApprovalPrompt({
  approvalId,
  name,
  approve,
  onAnswer,
}: {
  approvalId: string;
  name: string;
  approve: Approve;
  onAnswer: () => void;
}) {
  const strings = useStrings();
  const id = useId();
  const [remember, setRemember] = useState(false);
  const [sending, setSending] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const answer = async (approved: boolean) => {
    setSending(true);
    setProblem(null);
    onAnswer();
    // "Always allow" goes with Approve only: a denial is never remembered from this prompt.
    const refusal = await approve({ approvalId, approved, remember: approved && remember });
    setSending(false);
    if (refusal) setProblem(refusal.message);
  };
  return (
    <fieldset className="tool-approval" aria-labelledby={`${id}-ask`} aria-busy={sending}>
      <p id={`${id}-ask`} className="approval-question">
        {strings.approvalQuestion(name)}
      </p>
      <label className="approval-remember">
        <input
          type="checkbox"
          checked={remember}
          disabled={sending}
          onChange={(event) => setRemember(event.target.checked)}
        />{' '}
        {strings.approvalAlwaysAllow}
      </label>
      <div className="approval-actions">
        {problem && (
          <span className="status error" role="alert">
            {problem}
          </span>
        )}
        {sending && <span className="status">{strings.approvalSending}</span>}
        <button type="button" disabled={sending} onClick={() => void answer(false)}>
          {strings.approvalDeny}
        </button>
        <button type="button" className="send" disabled={sending} onClick={() => void answer(true)}>
          {strings.approvalApprove}
        </button>
      </div>
    </fieldset>
  );
}
