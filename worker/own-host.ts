/**
 * DNS rebinding: a page on attacker.example whose name the attacker then points at 127.0.0.1 reaches the local
 * stack as a same-origin page, with `Host: attacker.example:8787`, and could sign in through the dev login and
 * read every conversation. So where the dev login exists (DEV_AUTH, never in production) the Worker takes a
 * request's host as its own only when it is a loopback name or the host of an ALLOWED_ORIGINS entry. In
 * production Cloudflare routes by host, so a request naming a foreign host never reaches this Worker.
 */
import type { Config } from './config';

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/;

/** Is the host this request names one the Worker may treat as its own (for same-origin checks and dev login)? */
export function isOwnHost(url: URL, config: Config): boolean {
  if (!config.DEV_AUTH) return true;
  if (LOOPBACK.test(url.hostname)) return true;
  return config.ALLOWED_ORIGINS.some((origin) => URL.canParse(origin) && new URL(origin).host === url.host);
}

/** The page's own origin as this request names it, or null when that name cannot be trusted. */
export function ownOrigin(url: URL, config: Config): string | null {
  return isOwnHost(url, config) ? url.origin : null;
}
