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
  /** A denial's reason: `superseded` when a later send denied it. */
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
  const answer =
    state === 'approval-requested' || typeof approved !== 'boolean' ? 'pending' : approved ? 'approved' : 'denied';
  return { id, answer, reason: typeof reason === 'string' && reason ? reason : null };
}

/** The tool's name as the page shows it: `tool-calculator` → `calculator`, a dynamic tool's `toolName`. */
export function toolName(part: PartLike): string {
  if (part.type !== 'dynamic-tool') return part.type.slice('tool-'.length);
  const name = (part as { toolName?: unknown }).toolName;
  return typeof name === 'string' && name ? name : 'tool';
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
