/**
 * The example dashboard (examples/dashboard): a host on its own origin, with its own auth service and JWKS, embedding
 * the chat from the packed packages. Short-lived tokens (8 s) so they expire in the middle of a conversation.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Dashboard, startDashboard } from '../examples/dashboard/start';
import { connectBrowser, uniqueUser } from './support';

const TTL_SECONDS = 8;
let dashboard: Dashboard;
let browser: Awaited<ReturnType<typeof connectBrowser>>;

beforeAll(async () => {
  dashboard = await startDashboard({ ttlSeconds: TTL_SECONDS, quiet: true });
  browser = await connectBrowser();
}, 240_000);
afterAll(async () => {
  await browser?.close();
  await dashboard?.stop();
});

const reply = (page: Page, status: string) => page.locator(`article.message.assistant[data-status="${status}"]`);
const lastReplyText = (page: Page) => page.locator('article.message.assistant .bubble').last().innerText();

async function signIn(user: string, colorScheme: 'light' | 'dark' = 'light'): Promise<Page> {
  const context = await browser.newContext({
    baseURL: dashboard.url,
    viewport: { width: 1200, height: 800 },
    colorScheme,
  });
  const page = await context.newPage();
  await page.goto('/');
  await page.getByLabel('Name').fill(user);
  await page.getByRole('button', { name: 'Sign in to the dashboard' }).click();
  await page.getByLabel('Message', { exact: true }).waitFor();
  return page;
}

async function storedContent(user: string, conversationId: string): Promise<string[]> {
  const res = await fetch(`${dashboard.auth.url}/token`, { method: 'POST', body: JSON.stringify({ user }) });
  const { token } = (await res.json()) as { token: string };
  const page = await fetch(`${dashboard.stack.url}/api/v1/chat/conversations/${conversationId}/messages`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const body = (await page.json()) as { messages: { role: string; content: string }[] };
  return body.messages.filter((m) => m.role === 'assistant').map((m) => m.content);
}

describe('the example dashboard', () => {
  test('signs in at the host, streams a reply on its chat page, and a second tab shows it live', async () => {
    const user = uniqueUser('host');
    const page = await signIn(user);
    await page.locator('.host-nav').getByText('Chat').click();
    await page.getByLabel('Message', { exact: true }).fill('!dev words=3\nfrom the dashboard');
    await page.getByLabel('Message', { exact: true }).press('Enter');
    await page.waitForURL(/\/chat\/[0-9a-f-]{36}$/);
    await reply(page, 'complete').waitFor();

    // The second tab is live before the reply starts, so it must see it streaming, however slow its start.
    const second = await page.context().newPage();
    await second.goto(page.url());
    await second.locator('.connection[data-link="connected"]').waitFor();
    await page.getByLabel('Message', { exact: true }).fill('!dev words=40 delay_ms=40\nwatched from a second tab');
    await page.getByLabel('Message', { exact: true }).press('Enter');
    await reply(second, 'streaming').waitFor();
    await reply(page, 'complete').nth(1).waitFor();
    await reply(second, 'complete').nth(1).waitFor();
    const id = page.url().split('/').pop() ?? '';
    const [, stored] = await storedContent(user, id);
    expect(stored?.split(/\s+/).filter(Boolean)).toHaveLength(40);
    expect(await lastReplyText(page)).toBe(stored);
    expect(await lastReplyText(second)).toBe(stored);
    await page.context().close();
  });

  test('keeps working with no reload and no lost chunk when the token expires mid-conversation', async () => {
    const user = uniqueUser('expiry');
    const page = await signIn(user);
    const issuedBefore = dashboard.auth.issued();
    // ~12 s of reply: the token it started with (8 s) expires while it streams.
    await page.getByLabel('Message', { exact: true }).fill('!dev words=150 delay_ms=80\na long one');
    await page.getByLabel('Message', { exact: true }).press('Enter');
    await reply(page, 'complete').waitFor({ timeout: 60_000 });
    const id = page.url().split('/').pop() ?? '';
    const [first] = await storedContent(user, id);
    expect(first?.split(/\s+/).filter(Boolean)).toHaveLength(150);
    expect(await lastReplyText(page)).toBe(first);

    // The token has expired by now: the next send asks the host for a fresh one and goes through.
    await page.getByLabel('Message', { exact: true }).fill('!dev words=10\nafter the expiry');
    await page.getByLabel('Message', { exact: true }).press('Enter');
    await page.locator('article.message.assistant[data-status="complete"]').nth(1).waitFor();
    expect(dashboard.auth.issued()).toBeGreaterThan(issuedBefore + 1);
    const [, second] = await storedContent(user, id);
    expect(await lastReplyText(page)).toBe(second);
    await page.context().close();
  });

  test("shows signed out while the host's getToken fails, and Try again recovers once the host can give one", async () => {
    const user = uniqueUser('gettoken');
    const page = await signIn(user);
    await page.getByLabel('Message', { exact: true }).fill('!dev words=4\nbefore the outage');
    await page.getByLabel('Message', { exact: true }).press('Enter');
    await page.waitForURL(/\/chat\/[0-9a-f-]{36}$/);
    await reply(page, 'complete').waitFor();
    const url = page.url();

    // A fresh tab of the same host session: it has no token yet, and its auth service cannot be reached.
    const tab = await browser.newContext({ baseURL: dashboard.url, viewport: { width: 1200, height: 800 } });
    await tab.addInitScript((name) => localStorage.setItem('dashboard.user', name), user);
    await tab.route(`${dashboard.auth.url}/token`, (route) => route.abort('connectionrefused'));
    const second = await tab.newPage();
    await second.goto(url);
    const signedOut = second.getByRole('heading', { name: 'You are signed out' });
    await signedOut.waitFor();
    expect(await reply(second, 'complete').count()).toBe(0);

    const issuedBefore = dashboard.auth.issued();
    await tab.unroute(`${dashboard.auth.url}/token`);
    // The pane's own Try again (the sidebar's list, which failed too, offers one of its own).
    await second.locator('.chat-pane').getByRole('button', { name: 'Try again' }).click();
    await reply(second, 'complete').waitFor();
    await signedOut.waitFor({ state: 'detached' });
    expect(dashboard.auth.issued()).toBeGreaterThan(issuedBefore);
    expect(await lastReplyText(second)).toBe(await lastReplyText(page));
    await second.locator('.connection[data-link="connected"]').waitFor();
    await tab.close();
    await page.context().close();
  });

  test("follows the host's dark theme; the host's CSS is not disturbed and does not break the chat's", async () => {
    const page = await signIn(uniqueUser('theme'));
    const chat = page.locator('.agent-chat');
    expect(await chat.getAttribute('data-theme')).toBe('light');
    const hostLink = page.locator('.host-nav a').first();
    const hostStyle = () =>
      hostLink.evaluate((el) => {
        const s = getComputedStyle(el);
        return { color: s.color, font: s.fontFamily, boxSizing: s.boxSizing };
      });
    const before = await hostStyle();
    expect(before).toEqual({ color: 'rgb(255, 209, 102)', font: 'Georgia, serif', boxSizing: 'content-box' });

    await page.getByRole('button', { name: 'Dark theme' }).click();
    await page.waitForFunction(() => document.querySelector('.agent-chat')?.getAttribute('data-theme') === 'dark');
    const background = await chat.evaluate((el) => getComputedStyle(el).backgroundColor);
    expect(background).toBe('rgb(21, 23, 26)');
    expect(await hostStyle()).toEqual(before);

    // The host resets every button (`all: unset`) and uses content-box; the chat's own still look like buttons.
    const send = page.getByRole('button', { name: 'Send' });
    const look = await send.evaluate((el) => {
      const s = getComputedStyle(el);
      return { padding: s.paddingLeft, border: s.borderTopStyle, boxSizing: s.boxSizing };
    });
    expect(look.padding).not.toBe('0px');
    expect(look.border).toBe('solid');
    expect(look.boxSizing).toBe('border-box');
    await page.context().close();
  });
});
