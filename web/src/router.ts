/** The active conversation lives in the URL (/c/<id>), so deep links, reloads and the back button work. */
import { useSyncExternalStore } from 'react';

const CONVERSATION_PATH = /^\/c\/([0-9a-f-]{36})\/?$/i;

function subscribe(listener: () => void): () => void {
  window.addEventListener('popstate', listener);
  return () => window.removeEventListener('popstate', listener);
}

export function usePath(): string {
  return useSyncExternalStore(subscribe, () => location.pathname);
}

const SHARED_PATH = /^\/s\/([A-Za-z0-9_-]{22})\/?$/;

/** A public share link's page (/s/<share_id>, SPEC §10): read-only, no sign-in. */
export function shareIdFrom(path: string): string | null {
  return SHARED_PATH.exec(path)?.[1] ?? null;
}

export function conversationIdFrom(path: string): string | null {
  return CONVERSATION_PATH.exec(path)?.[1]?.toLowerCase() ?? null;
}

export function conversationPath(id: string | null): string {
  return id ? `/c/${id}` : '/';
}

export function navigate(path: string, options: { replace?: boolean } = {}): void {
  if (location.pathname === path) return;
  if (options.replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  window.dispatchEvent(new PopStateEvent('popstate'));
}
