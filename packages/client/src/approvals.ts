/**
 * Tool approval as the AI SDK writes it on a tool part (SPEC §9): `approval-requested` waits for a person;
 * `approval-responded`, then `output-available` / `output-denied`, carry their answer in `approval.approved`.
 */

/** Where a tool call stands with a person's consent. */
export interface ToolApproval {
  /** The id a `POST …/approvals` answers (`approval_id`). */
  id: string;
  /** `pending` until someone answers; then the answer. */
  answer: 'pending' | 'approved' | 'denied';
  /** The answer's reason: `superseded` when a later send denied it, `remembered` when a rule of the conversation gave it. */
  reason: string | null;
}

type PartLike = { type: string };

const isTool = (part: PartLike): boolean => part.type === 'dynamic-tool' || part.type.startsWith('tool-');

/** The approval a tool part carries, or null for a part that needed none (or is not a tool call). */
export function toolApproval(part: PartLike): ToolApproval | null {
  if (!isTool(part)) return null;
  const { state, approval } = part as { state?: unknown; approval?: unknown };
  if (typeof approval !== 'object' || approval === null) return null;
  const { id, approved, reason } = approval as { id?: unknown; approved?: unknown; reason?: unknown };
  if (typeof id !== 'string') return null;
  // Assembled from chunks a part may lack `approved` (no chunk carries a person's answer): its state tells.
  const answer =
    state === 'approval-requested'
      ? 'pending'
      : approved === false || state === 'output-denied'
        ? 'denied'
        : 'approved';
  return { id, answer, reason: typeof reason === 'string' && reason ? reason : null };
}

/** The tool's name as the page shows it: `tool-calculator` → `calculator`, a dynamic tool's `toolName`. */
export function toolName(part: PartLike): string {
  if (part.type !== 'dynamic-tool') return part.type.slice('tool-'.length);
  const name = (part as { toolName?: unknown }).toolName;
  return typeof name === 'string' && name ? name : 'tool';
}

/**
 * Whether `incoming` is an older copy of the reply `known`: a poll answer or a late frame must never turn a finished
 * reply back into a streaming one, except that a reply goes on after an approval is answered (SPEC §9), and every
 * answer adds to its answered approvals: a copy with fewer was read before an answer.
 */
export function isOlderCopy(
  incoming: { status: string; parts: readonly PartLike[] },
  known: { status: string; parts: readonly PartLike[] },
): boolean {
  const answered = answeredApprovals(incoming.parts) - answeredApprovals(known.parts);
  if (answered !== 0) return answered < 0;
  return known.status !== 'streaming' && incoming.status === 'streaming';
}

/**
 * How many of a reply's approvals have been answered. A reply continues (streams again) only after an answer, so
 * this only grows: a copy of the reply with fewer answers is an older one (a page read before the answer).
 */
export function answeredApprovals(parts: readonly PartLike[]): number {
  return parts.filter((part) => {
    const approval = toolApproval(part);
    return approval !== null && approval.answer !== 'pending';
  }).length;
}

/** Whether a reply waits for a person: one of its tool calls asks for approval and no one has answered. */
export function awaitsApproval(parts: readonly PartLike[]): boolean {
  return parts.some((part) => toolApproval(part)?.answer === 'pending');
}

/**
 * A reply's parts assembled from its chunks, with the answers its stored row holds: no chunk carries a person's
 * answer, so a part assembled as `approval-requested` (or on to its output) takes it from the row, as the room does.
 */
export function carryAnswers<P extends PartLike>(assembled: readonly P[], answered: readonly PartLike[]): readonly P[] {
  const answers = new Map<string, Record<string, unknown>>();
  for (const part of answered) {
    const approval = (part as { approval?: Record<string, unknown> }).approval;
    if (toolApproval(part) && typeof approval?.approved === 'boolean') answers.set(String(approval.id), approval);
  }
  if (answers.size === 0) return assembled;
  return assembled.map((part) => {
    const id = toolApproval(part)?.id;
    const answer = id === undefined ? undefined : answers.get(id);
    if (!answer) return part;
    const { state, approval } = part as { state?: unknown; approval?: Record<string, unknown> };
    return {
      ...part,
      state: state === 'approval-requested' ? 'approval-responded' : state,
      approval: { ...approval, ...answer },
    };
  });
}
