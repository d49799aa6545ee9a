import type { ConversationRoom } from './conversation-room';
import { type Entries, INHERITED_ENTRIES } from './storage-meter';

/** Every way into a room, for the capacity bench's request count (storage-meter.ts). */
export const ROOM_ENTRIES: Record<Entries<ConversationRoom>, true> = {
  create: true,
  get: true,
  update: true,
  remove: true,
  history: true,
  stop: true,
  ticket: true,
  giveBackAdvance: true,
  send: true,
  regenerate: true,
  approve: true,
  approveStream: true,
  rate: true,
  switchHead: true,
  share: true,
  unshare: true,
  sharedView: true,
  watchShared: true,
  sendStream: true,
  regenerateStream: true,
  attachStream: true,
  ...INHERITED_ENTRIES,
};
