/**
 * The page's budget, printed: initial JS (gzip) from web/dist, time to show a 200-message conversation,
 * and how responsive the page stays while a reply streams at ~100 chunks a second.
 * Run: npx tsx bench/web-budget.ts   (builds web/dist through the stack when it is stale)
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { Page } from 'playwright-core';
import type { Stack } from '../dev/stack';
import { GENEROUS_LIMITS, launchBrowser, signedInContext, startTestStack } from '../e2e/support';

const DIST = fileURLToPath(new URL('../web/dist/', import.meta.url));
const BUDGET_KB = 150;

async function gzipKb(path: string): Promise<number> {
  return gzipSync(await readFile(join(DIST, path)), { level: 9 }).length / 1024;
}

/** Scripts the browser fetches before the page can run: the entry and its modulepreloads. */
async function initialJs(): Promise<{ files: string[]; kb: number; cssKb: number }> {
  const html = await readFile(join(DIST, 'index.html'), 'utf8');
  const files = [...html.matchAll(/<(?:script[^>]+src|link[^>]+rel="modulepreload"[^>]+href)="\/([^"]+\.js)"/g)]
    .map((m) => m[1])
    .filter((f): f is string => Boolean(f));
  const css = [...html.matchAll(/<link[^>]+rel="stylesheet"[^>]+href="\/([^"]+\.css)"/g)].map((m) => m[1] ?? '');
  let kb = 0;
  for (const f of files) kb += await gzipKb(f);
  let cssKb = 0;
  for (const f of css) cssKb += await gzipKb(f);
  return { files, kb, cssKb };
}

async function api(stack: Stack, token: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${stack.url}/api/v1/chat${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

/** 100 questions and 100 replies (markdown with a code block every tenth), sent over REST. */
async function seedConversation(stack: Stack, token: string): Promise<string> {
  const first = (await api(stack, token, '/messages', { content: '!dev words=30\nquestion 0' })) as {
    conversation: { id: string };
  };
  const id = first.conversation.id;
  for (let i = 1; i < 100; i++) {
    const content =
      i % 10 === 0
        ? `!dev echo\nCode ${i}:\n\n\`\`\`ts\nconst n: number = ${i};\nconsole.log(n * 2);\n\`\`\``
        : `!dev words=30\nquestion ${i}`;
    await api(stack, token, '/messages', { conversation_id: id, content });
  }
  return id;
}

async function renderTimes(
  page: Page,
  conversationId: string,
): Promise<{ firstMs: number; allMs: number; shown: number }> {
  const started = Date.now();
  await page.goto(`/c/${conversationId}`);
  await page.locator('article.message.assistant[data-status="complete"]').last().waitFor();
  await page.locator('[data-streamdown]').first().waitFor();
  const firstMs = Date.now() - started;
  const scrollStarted = Date.now();
  for (let i = 0; i < 20; i++) {
    const count = await page.locator('article.message').count();
    if (count >= 200) break;
    await page.locator('.message-scroller').evaluate((el) => {
      el.scrollTop = 0;
    });
    await page.waitForFunction((n) => document.querySelectorAll('article.message').length > n, count, {
      timeout: 10_000,
    });
  }
  return { firstMs, allMs: Date.now() - scrollStarted, shown: await page.locator('article.message').count() };
}

interface Responsiveness {
  longTasks: number;
  longTaskMs: number;
  maxLagMs: number;
  p95LagMs: number;
  streamMs: number;
}

/** Long tasks, and how late a 20 ms timer fires: what a keypress would wait for. */
const PROBE = `(() => {
  const probe = { longTasks: 0, longTaskMs: 0, lags: [], running: true };
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) { probe.longTasks++; probe.longTaskMs += entry.duration; }
  }).observe({ type: 'longtask' });
  let expected = performance.now() + 20;
  const tick = () => {
    const now = performance.now();
    probe.lags.push(Math.max(0, now - expected));
    expected = now + 20;
    if (probe.running) setTimeout(tick, 20);
  };
  setTimeout(tick, 20);
  window.__probe = probe;
})()`;

async function streamingResponsiveness(page: Page): Promise<Responsiveness> {
  // A string, not a function: tsx would wrap named functions in a helper that does not exist in the page.
  await page.evaluate(PROBE);
  const box = page.getByLabel('Message', { exact: true });
  const started = Date.now();
  await box.fill('!dev words=1000 delay_ms=10\nstream fast');
  await box.press('Enter');
  await page.locator('article.message.assistant[data-status="streaming"]').waitFor();
  await page
    .waitForFunction(
      () => {
        const all = document.querySelectorAll('article.message.assistant');
        return all[all.length - 1]?.getAttribute('data-status') === 'complete';
      },
      undefined,
      { timeout: 60_000, polling: 250 },
    )
    .catch(async (error: unknown) => {
      const state = await page.evaluate(() => {
        const all = document.querySelectorAll('article.message.assistant');
        const last = all[all.length - 1];
        return `${all.length} replies; last ${last?.getAttribute('data-status')} with ${(last?.textContent ?? '').split(/\s+/).length} words; ${document.querySelector('.connection')?.textContent}`;
      });
      throw new Error(`the streamed reply did not complete: ${state}`, { cause: error });
    });
  const streamMs = Date.now() - started;
  const probe = await page.evaluate(() => {
    const p = (
      window as unknown as { __probe: { longTasks: number; longTaskMs: number; lags: number[]; running: boolean } }
    ).__probe;
    p.running = false;
    return p;
  });
  const lags = [...probe.lags].sort((a, b) => a - b);
  return {
    longTasks: probe.longTasks,
    longTaskMs: Math.round(probe.longTaskMs),
    maxLagMs: Math.round(lags.at(-1) ?? 0),
    p95LagMs: Math.round(lags[Math.floor(lags.length * 0.95)] ?? 0),
    streamMs,
  };
}

async function main(): Promise<void> {
  const stack = await startTestStack(GENEROUS_LIMITS);
  const browser = await launchBrowser();
  try {
    const js = await initialJs();
    console.log(
      `initial JS: ${js.kb.toFixed(1)} KB gzip (budget ${BUDGET_KB} KB) in ${js.files.join(', ')}; CSS ${js.cssKb.toFixed(1)} KB gzip`,
    );

    const user = `bench-web-${Date.now().toString(36)}`;
    const token = await stack.devToken(user);
    const seedStarted = Date.now();
    const conversationId = await seedConversation(stack, token);
    console.log(`seeded 200 messages in ${Date.now() - seedStarted} ms`);

    const context = await signedInContext(browser, stack, user);
    const page = await context.newPage();
    await page.goto('/');
    await page.getByLabel('Message', { exact: true }).waitFor();
    const times = await renderTimes(page, conversationId);
    console.log(
      `200-message conversation: newest page shown in ${times.firstMs} ms; all ${times.shown} messages after scrolling up in ${times.allMs} ms more`,
    );

    const r = await streamingResponsiveness(page);
    console.log(
      `streaming 1000 chunks at ~100/s (${r.streamMs} ms): ${r.longTasks} long tasks (${r.longTaskMs} ms in all), ` +
        `timer lag p95 ${r.p95LagMs} ms, max ${r.maxLagMs} ms`,
    );
    await context.close();
  } finally {
    await browser.close();
    await stack.stop();
  }
}

await main();
