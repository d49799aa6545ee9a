/**
 * The API reference page (/reference.html, Swagger UI from swagger-ui-dist over /api/v1/openapi.json) renders under
 * the page's own Content-Security-Policy: no violation, nothing from another origin, and the API's operations listed.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { API_BASE } from '../worker/wire';
import { connectBrowser, sharedStack } from './support';

const stack = sharedStack();
let browser: Browser;

beforeAll(async () => {
  browser = await connectBrowser();
});
afterAll(async () => {
  await browser?.close();
});

test('/reference.html lists the API operations with no CSP violation and nothing from another origin', async () => {
  const context = await browser.newContext({ baseURL: stack.url });
  try {
    const own = new URL(stack.url).origin;
    const foreign: string[] = [];
    await context.route(
      (url) => url.origin !== own,
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
    const res = await page.goto('/reference.html');
    expect(res?.headers()['content-security-policy']).toContain("script-src 'self'");
    const send = page.locator('.opblock', { hasText: '/messages' }).first();
    await send.waitFor();
    const paths = await page.locator('.opblock-summary-path').allInnerTexts();
    expect(paths.map((p) => p.replace(/\u200b/g, ''))).toEqual(
      expect.arrayContaining(
        ['/conversations', '/conversations/{id}', '/messages', '/ws-ticket'].map((p) => `${API_BASE}${p}`),
      ),
    );
    expect(await page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations)).toEqual([]);
    expect(foreign).toEqual([]);
  } finally {
    await context.close();
  }
});
