/** What the page shows when things go wrong, and how it recovers: a failed reply, a dropped socket, a deletion elsewhere. */
import type { Page, WebSocketRoute } from 'playwright-core';
import { describe, expect, test } from 'vitest';
import {
  lastReply,
  openNewChat,
  screenshot,
  send,
  sharedStackAndBrowser,
  signedInContext,
  uniqueUser,
  words,
} from './support';

const shared = sharedStackAndBrowser();

const reply = (page: Page, status: string) => page.locator(`article.message.assistant[data-status="${status}"]`);

async function storedReplies(user: string, conversationId: string): Promise<string[]> {
  const res = await fetch(`${shared.stack.url}/api/v1/chat/conversations/${conversationId}/messages`, {
    headers: { authorization: `Bearer ${await shared.stack.devToken(user)}` },
  });
  const body = (await res.json()) as { messages: { role: string; content: string }[] };
  return body.messages.filter((m) => m.role === 'assistant').map((m) => m.content);
}

const conversationOf = (page: Page) => new URL(page.url()).pathname.split('/').pop() ?? '';

describe('failures and recovery', () => {
  test('a failed reply says why and keeps its text; Retry asks the same question again and gets the answer', async () => {
    const page = await openNewChat(shared);
    // `once`: the dev agent fails this prompt the first time only, so the retry can succeed.
    await send(page, '!dev words=30 fail_after=5 once\nflaky question');
    const failed = reply(page, 'error');
    await failed.waitFor();
    expect(words(await failed.locator('.bubble').innerText())).toHaveLength(5);
    const why = failed.getByRole('alert');
    expect(await why.innerText()).toMatch(/^The reply failed: .*fail_after/);
    await screenshot(page, '14-failed-reply');

    await failed.getByRole('button', { name: 'Retry' }).click();
    await reply(page, 'complete').waitFor();
    expect(words(await lastReply(page).locator('.bubble').innerText())).toHaveLength(30);
    expect(await page.locator('article.message.user').allInnerTexts()).toEqual([
      expect.stringContaining('flaky question'),
      expect.stringContaining('flaky question'),
    ]);
    // The failed reply stays as it was, above the retry; only the newest reply offers Retry.
    expect(await reply(page, 'error').count()).toBe(1);
    expect(await page.getByRole('button', { name: 'Retry' }).count()).toBe(0);
    await page.context().close();
  });

  test('a dropped socket shows Reconnecting…, then the reply that went on meanwhile completes with no word lost', async () => {
    const user = uniqueUser('reconnect');
    const context = await signedInContext(shared.browser, shared.stack, user);
    // The real socket, passed through; the test can drop it and hold the next connection attempt.
    const sockets: Array<{ page: WebSocketRoute; server: WebSocketRoute }> = [];
    let held: Promise<void> = Promise.resolve();
    await context.routeWebSocket(/\/ws(\?|$)/, async (ws) => {
      await held;
      sockets.push({ page: ws, server: ws.connectToServer() });
    });
    const page = await context.newPage();
    await page.goto('/');
    await send(page, '!dev words=3\nwarm up');
    await reply(page, 'complete').waitFor();
    await page.locator('.connection[data-link="connected"]').waitFor();

    await send(page, '!dev words=80 delay_ms=40\ngoes on without the socket');
    await page.waitForFunction(() => {
      const replies = document.querySelectorAll('article.message.assistant');
      return (replies[replies.length - 1]?.textContent ?? '').split(/\s+/).length > 10;
    });
    let release = () => {};
    held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const dropped = sockets.at(-1);
    await dropped?.page.close({ code: 4000, reason: 'dropped by the test' });
    await dropped?.server.close();
    await page.locator('.connection[data-link="reconnecting"]').waitFor();
    expect(await page.locator('.connection').innerText()).toBe('Reconnecting…');
    await screenshot(page, '15-reconnecting');
    release();

    await page.locator('.connection[data-link="connected"]').waitFor();
    await reply(page, 'complete').nth(1).waitFor();
    const shown = await lastReply(page).locator('.bubble').innerText();
    expect(words(shown)).toHaveLength(80);
    expect(shown).toBe((await storedReplies(user, conversationOf(page)))[1]);
    expect(sockets.length).toBeGreaterThanOrEqual(2);
    await context.close();
  });

  test('a conversation deleted in another tab shows as not found, and leaves the sidebar', async () => {
    const user = uniqueUser('deleted');
    const page = await openNewChat(shared, user);
    await send(page, '!dev words=3\ndeleted elsewhere');
    await reply(page, 'complete').waitFor();
    await page.locator('.connection[data-link="connected"]').waitFor();
    const row = page.locator('.conversation-row', { hasText: 'deleted elsewhere' });
    await row.waitFor();

    const other = await page.context().newPage();
    await other.goto(page.url());
    await other.getByRole('button', { name: 'Delete “deleted elsewhere”' }).click();
    await other.getByRole('button', { name: 'Delete', exact: true }).click();
    await other.waitForURL((u) => u.pathname === '/');

    await page.getByRole('heading', { name: 'Conversation not found' }).waitFor();
    await row.waitFor({ state: 'detached' });
    expect(await page.getByLabel('Message', { exact: true }).count()).toBe(0);
    await page.getByRole('button', { name: 'Start a new chat' }).click();
    await page.getByLabel('Message', { exact: true }).waitFor();
    await page.context().close();
  });
});
