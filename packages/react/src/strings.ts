/** The component's words, for hosts in another language; any left out stay English. */
import { createContext, useContext } from 'react';

export interface ChatStrings {
  /** The whole chat's header. */
  brand: string;
  /** The drawer button's label on narrow screens. */
  conversations: string;
  newChat: string;
  signedOutTitle: string;
  signedOutBody: string;
  tryAgain: string;
  /** Above a tool call's Approve and Deny (SPEC §9), e.g. `Allow the agent to use calculator with this input?` */
  approvalQuestion: (tool: string) => string;
  approvalApprove: string;
  approvalDeny: string;
  /** The checkbox beside Approve: the same tool's later requests in this conversation are approved without asking. */
  approvalAlwaysAllow: string;
  approvalSending: string;
  /** A tool call's state while it waits for a person's answer. */
  approvalWaiting: string;
  approvalApproved: string;
  approvalDenied: string;
  /** A request denied because a new message was sent while it waited. */
  approvalSuperseded: string;
  /** Requests answered by an earlier "always allow" (or a remembered denial) in this conversation. */
  approvalAllowedByRule: string;
  approvalDeniedByRule: string;
  /** The mark on a conversation that has a live share link (SPEC §10), in its list row and its header. */
  sharedMark: string;
  /** The mark's longer description (its tooltip). */
  sharedMarkTitle: string;
  /** Drops a send that failed (a message, an edit or a regenerate) instead of retrying it. */
  dismiss: string;
  /** The group of thumbs on a reply. */
  rateReply: string;
  goodReply: string;
  badReply: string;
  /** Opens the comment box of a rated reply; `editComment` when it has a comment already. */
  addComment: string;
  editComment: string;
  commentLabel: string;
  saveComment: string;
  cancel: string;
  /** Before the comment shown under a rated reply (for screen readers). */
  yourComment: string;
  commentTooLong: string;
}

export const ENGLISH: ChatStrings = {
  brand: 'Agent chat',
  conversations: 'Conversations',
  newChat: '+ New chat',
  signedOutTitle: 'You are signed out',
  signedOutBody: 'No sign-in could be obtained for the chat.',
  tryAgain: 'Try again',
  approvalQuestion: (tool) => `Allow the agent to use ${tool} with this input?`,
  approvalApprove: 'Approve',
  approvalDeny: 'Deny',
  approvalAlwaysAllow: 'Always allow in this conversation',
  approvalSending: 'Sending your answer…',
  approvalWaiting: 'waiting for approval',
  approvalApproved: 'approved',
  approvalDenied: 'denied',
  approvalSuperseded: 'denied: a newer message was sent',
  approvalAllowedByRule: 'always allowed in this conversation',
  approvalDeniedByRule: 'always denied in this conversation',
  sharedMark: 'Shared',
  sharedMarkTitle: 'Anyone with the live link can read this conversation',
  dismiss: 'Dismiss',
  rateReply: 'Rate this reply',
  goodReply: 'Good reply',
  badReply: 'Bad reply',
  addComment: 'Comment',
  editComment: 'Edit comment',
  commentLabel: 'Comment on this reply, optional (Enter to save, Shift+Enter for a new line, Esc to cancel)',
  saveComment: 'Save',
  cancel: 'Cancel',
  yourComment: 'Your comment:',
  commentTooLong: 'The comment is too long: at most 2,000 characters.',
};

export const StringsContext = createContext<ChatStrings>(ENGLISH);

export const useStrings = (): ChatStrings => useContext(StringsContext);
