import { describe, expect, it } from 'vitest';
import { answeredApprovals, awaitsApproval, carryAnswers, isOlderCopy, toolApproval, toolName } from './approvals';

const asked = {
  type: 'tool-calculator',
  toolCallId: 'calc-1',
  state: 'approval-requested',
  input: { expression: '2+3' },
  approval: { id: 'approval-calc-1' },
};
const approved = { ...asked, state: 'approval-responded', approval: { id: 'approval-calc-1', approved: true } };
const ran = { ...approved, state: 'output-available', output: { result: '5' } };
const superseded = {
  ...asked,
  state: 'output-denied',
  approval: { id: 'approval-calc-1', approved: false, reason: 'superseded' },
};

describe('tool approval on a part (SPEC §9)', () => {
  it('reads a request as pending, and each answer as the AI SDK records it', () => {
    expect(toolApproval(asked)).toEqual({ id: 'approval-calc-1', answer: 'pending', reason: null });
    expect(toolApproval(approved)).toEqual({ id: 'approval-calc-1', answer: 'approved', reason: null });
    expect(toolApproval(ran)?.answer).toBe('approved');
    expect(toolApproval(superseded)).toEqual({ id: 'approval-calc-1', answer: 'denied', reason: 'superseded' });
  });

  it('finds none on a call that needed no consent, nor on other parts', () => {
    const clock = { type: 'tool-clock', state: 'output-available', output: {} };
    const text = { type: 'text', text: 'hi', approval: { id: 'x' } };
    expect(toolApproval(clock)).toBeNull();
    expect(toolApproval(text)).toBeNull();
  });

  it('names static and dynamic tools', () => {
    expect(toolName(asked)).toBe('calculator');
    const dynamic = { type: 'dynamic-tool', toolName: 'search' };
    expect(toolName(dynamic)).toBe('search');
    expect(toolName({ type: 'dynamic-tool' })).toBe('tool');
  });

  it('counts answers, which only grow as a reply goes on', () => {
    const text = { type: 'text', text: 'The result is 5.' };
    expect(answeredApprovals([asked])).toBe(0);
    expect(answeredApprovals([approved])).toBe(1);
    expect(answeredApprovals([ran, text, superseded])).toBe(2);
    expect(awaitsApproval([text, asked])).toBe(true);
    expect(awaitsApproval([ran, text])).toBe(false);
  });

  it('gives parts assembled from chunks the answers of the stored row', () => {
    // Chunks say approval-requested, then tool-output-denied: neither carries the person's answer.
    const deniedFromChunks = { ...asked, state: 'output-denied' };
    const row = [{ ...asked, state: 'approval-responded', approval: { id: 'approval-calc-1', approved: false } }];
    expect(toolApproval(deniedFromChunks)?.answer).toBe('denied');
    const [askedNow] = carryAnswers([asked], row);
    expect(askedNow).toMatchObject({
      state: 'approval-responded',
      approval: { id: 'approval-calc-1', approved: false },
    });
    const [deniedNow] = carryAnswers([deniedFromChunks], row);
    expect(deniedNow).toMatchObject({ state: 'output-denied', approval: { approved: false } });
    const unanswered = [asked];
    expect(carryAnswers(unanswered, [asked])).toBe(unanswered);
  });

  it('takes a reply that streams again after an answer for news, and a copy read before an answer for old', () => {
    const waiting = { status: 'complete', parts: [asked] };
    const goingOn = { status: 'streaming', parts: [approved] };
    const ended = { status: 'complete', parts: [ran, { type: 'text', text: '5' }] };
    expect(isOlderCopy(goingOn, waiting)).toBe(false);
    expect(isOlderCopy(ended, goingOn)).toBe(false);
    // A page read while it went on, arriving after its end; a page read before the answer.
    expect(isOlderCopy(goingOn, ended)).toBe(true);
    expect(isOlderCopy(waiting, goingOn)).toBe(true);
    // Without approvals, as before: a finished reply never streams again.
    expect(isOlderCopy({ status: 'streaming', parts: [] }, { status: 'complete', parts: [] })).toBe(true);
    expect(isOlderCopy({ status: 'complete', parts: [] }, { status: 'streaming', parts: [] })).toBe(false);
  });
});
