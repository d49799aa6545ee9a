/**
 * The page (web/dist through the ASSETS binding) with the headers that keep it and its assets safe (SPEC §8):
 * a Content-Security-Policy that allows what the page needs and nothing else, images only from
 * ALLOWED_IMAGE_ORIGINS, framing only by FRAME_ANCESTORS, hashed assets cached for good, the page itself
 * revalidated on every load, and no source maps.
 */
import { Hono } from 'hono';
import { type Config, loadConfig } from './config';
import { ApiError } from './errors';

/** Vite's output folder for hashed (content-addressed) files: their URL changes whenever their bytes do. */
const HASHED = /^\/assets\/[^/]+$/;
/** The page reads the allowed image origins from this meta tag (web/src/markdown/image-policy.ts). */
export const IMAGE_ORIGINS_META = 'agent-chat-image-origins';

/**
 * The API reference (Swagger UI): it draws its icons as data: images and shows no agent text. Assets serve
 * reference.html at /reference (a request for /reference.html is redirected there).
 */
const REFERENCE_PAGES = new Set(['/reference', '/reference.html']);

/**
 * The page's policy: its own scripts, styles and API; images from ALLOWED_IMAGE_ORIGINS; no plugins or bases.
 * The reference page alone may also show data: images, which cannot leave the browser.
 */
export function pagePolicy(config: Config, path = '/'): string {
  const ancestors = config.FRAME_ANCESTORS.length ? config.FRAME_ANCESTORS.join(' ') : "'none'";
  const images = ["'self'", ...config.ALLOWED_IMAGE_ORIGINS, ...(REFERENCE_PAGES.has(path) ? ['data:'] : [])];
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src ${images.join(' ')}`,
    "font-src 'self'",
    "connect-src 'self'",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    `frame-ancestors ${ancestors}`,
  ].join('; ');
}

/** Headers on every response of the Worker, API included. */
export function setCommonHeaders(headers: Headers): void {
  headers.set('x-content-type-options', 'nosniff');
  // A link in an agent's reply must not tell its target which conversation it was clicked in.
  headers.set('referrer-policy', 'no-referrer');
}

const escapeAttribute = (text: string) =>
  text.replaceAll('&', '&amp;').replaceAll('"', '&quot;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

function unconditional(request: Request): Request {
  const headers = new Headers(request.headers);
  headers.delete('if-none-match');
  headers.delete('if-modified-since');
  return new Request(request, { headers });
}

/** GET/HEAD of anything outside /api: the asset, or the page for the app's own routes (single-page app). */
export const page = new Hono<{ Bindings: Env }>().on(['GET', 'HEAD'], '*', async (c) => {
  const path = c.req.path;
  if (path.startsWith('/api/')) return c.notFound();
  // Maps are built for debugging and error reports, not published (web/public/.assetsignore keeps them out too).
  if (path.endsWith('.map')) return new ApiError('not_found', 'no such file').toResponse();
  const config = loadConfig(c.env);
  const hashed = HASHED.test(path);
  const asset = await c.env.ASSETS.fetch(hashed ? c.req.raw : unconditional(c.req.raw));
  const isPage = (asset.headers.get('content-type') ?? '').startsWith('text/html');
  // The single-page fallback answers any unknown path with the page; under /assets/ that is a missing file.
  if (hashed && isPage) return new ApiError('not_found', 'no such file').toResponse();
  const headers = new Headers(asset.headers);
  setCommonHeaders(headers);
  if (hashed) {
    headers.set('cache-control', 'public, max-age=31536000, immutable');
    headers.set('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
    return new Response(asset.body, { status: asset.status, headers });
  }
  // Unhashed: the page and root files. A new deploy or a changed setting shows at the next load: the page is
  // fetched whole each time (~0.5 KB), as its asset ETag would not change with the settings written into it.
  headers.set('cache-control', 'no-cache');
  headers.delete('etag');
  headers.set('content-security-policy', pagePolicy(config, path));
  if (!config.FRAME_ANCESTORS.length) headers.set('x-frame-options', 'DENY');
  // A shared conversation's page (/s/<id>) is public but not for search engines.
  if (path.startsWith('/s/')) headers.set('x-robots-tag', 'noindex');
  const response = new Response(asset.body, { status: asset.status, headers });
  if (!isPage) return response;
  const origins = escapeAttribute(config.ALLOWED_IMAGE_ORIGINS.join(' '));
  return new HTMLRewriter()
    .on('head', {
      element(head) {
        head.append(`<meta name="${IMAGE_ORIGINS_META}" content="${origins}">`, { html: true });
      },
    })
    .transform(response);
});
