/** The page against the real local stack: streaming, history, tabs, stop, rename, delete, reconnects. */
import type { Page } from 'playwright-core';
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

async function storedReply(page: Page): Promise<string> {
  const id = await lastReply(page).getAttribute('data-message-id');
  const conversation = new URL(page.url()).pathname.split('/').pop();
  const token = await shared.stack.devToken(
    await page.evaluate(() => JSON.parse(localStorage['agent-chat.dev-session']).user),
  );
  const res = await fetch(`${shared.stack.url}/api/v1/chat/conversations/${conversation}/messages`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const body = (await res.json()) as { messages: { id: string; content: string }[] };
  return body.messages.find((m) => m.id === id)?.content ?? '';
}

describe('chat page', () => {
  test('dev sign-in, a streamed reply, and history after a reload', async () => {
    const context = await shared.browser.newContext({
      baseURL: shared.stack.url,
      viewport: { width: 1200, height: 800 },
    });
    const page = await context.newPage();
    await page.goto('/');
    await page.getByText('You are not signed in').waitFor();
    await screenshot(page, '01-sign-in');
    await page.getByLabel('User name').fill(uniqueUser('form'));
    await page.getByRole('button', { name: 'Sign in' }).click();

    await send(page, '!dev words=40 delay_ms=40\nfirst question');
    await reply(page, 'streaming').waitFor();
    await page.waitForURL(/\/c\/[0-9a-f-]{36}$/);
    await page.waitForFunction(() => {
      const text = document.querySelector('article.message.assistant')?.textContent ?? '';
      return text.split(/\s+/).length > 8;
    });
    await screenshot(page, '02-streaming');
    await reply(page, 'complete').waitFor();
    const text = await lastReply(page).locator('.bubble').innerText();
    expect(words(text)).toHaveLength(40);
    expect(await page.locator('.connection').innerText()).toBe('Connected');
    expect(await page.locator('.conversation-row').first().innerText()).toContain('first question');
    await screenshot(page, '03-complete');

    await page.reload();
    await reply(page, 'complete').waitFor();
    expect(await page.locator('article.message.user').first().innerText()).toContain('first question');
    expect(await lastReply(page).locator('.bubble').innerText()).toBe(text);
    await context.close();
  });

  test('a second tab on the same conversation streams the reply live', async () => {
    const user = uniqueUser();
    const first = await openNewChat(shared, user);
    await send(first, '!dev words=3\nopen it');
    await reply(first, 'complete').waitFor();
    const second = await first.context().newPage();
    await second.goto(first.url());
    await second.locator('.connection[data-link="connected"]').waitFor();

    await send(first, '!dev words=60 delay_ms=40\nwatch from the other tab');
    // The second tab shows the reply while it is still being written, not only once it is stored.
    await second.locator('article.message.assistant[data-status="streaming"]').waitFor();
    await second.waitForFunction(() => {
      const replies = document.querySelectorAll('article.message.assistant');
      const text = replies[replies.length - 1]?.textContent ?? '';
      return text.split(/\s+/).length > 10;
    });
    await screenshot(second, '04-second-tab-streaming');
    await reply(second, 'complete').nth(1).waitFor();
    expect(words(await lastReply(second).locator('.bubble').innerText())).toHaveLength(60);
    expect(await lastReply(second).locator('.bubble').innerText()).toBe(
      await lastReply(first).locator('.bubble').innerText(),
    );
    await first.context().close();
  });

  test('stop keeps the partial reply', async () => {
    const page = await openNewChat(shared);
    await send(page, '!dev words=400 delay_ms=30\nlong one');
    await page.waitForFunction(() => {
      const text = document.querySelector('article.message.assistant')?.textContent ?? '';
      return text.split(/\s+/).length > 15;
    });
    await page.getByRole('button', { name: /Stop/ }).click();
    await reply(page, 'stopped').waitFor();
    const kept = words(await lastReply(page).locator('.bubble').innerText());
    expect(kept.length).toBeGreaterThan(10);
    expect(kept.length).toBeLessThan(400);
    expect(await lastReply(page).innerText()).toContain('Stopped');
    await page.getByRole('button', { name: 'Send' }).waitFor();
    await screenshot(page, '05-stopped');
    await page.context().close();
  });

  test('rename and delete from the sidebar', async () => {
    const page = await openNewChat(shared);
    await send(page, '!dev words=2\nto be renamed');
    await reply(page, 'complete').waitFor();
    const url = page.url();

    await page.getByRole('button', { name: 'Rename “to be renamed”' }).click();
    const input = page.getByLabel('New title');
    await input.fill('Renamed by the test');
    await input.press('Enter');
    await page.locator('.chat-title', { hasText: 'Renamed by the test' }).waitFor();
    await page.reload();
    await page.locator('.conversation-row', { hasText: 'Renamed by the test' }).waitFor();
    await page.locator('.chat-title', { hasText: 'Renamed by the test' }).waitFor();

    await page.getByRole('button', { name: 'Delete “Renamed by the test”' }).click();
    await screenshot(page, '06-confirm-delete');
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    await page.waitForURL((u) => u.pathname === '/');
    expect(await page.locator('.conversation-row', { hasText: 'Renamed by the test' }).count()).toBe(0);
    await page.goto(url);
    await page.getByText('Conversation not found').waitFor();
    await page.context().close();
  });

  test('the sidebar keeps a reply in flight on top when it refreshes from the server', async () => {
    const page = await openNewChat(shared);
    await send(page, '!dev words=2\nthe older one');
    await reply(page, 'complete').waitFor();
    const older = page.url();
    await page.getByRole('button', { name: 'New chat' }).click();
    await send(page, '!dev words=2\nthe newer one');
    await reply(page, 'complete').waitFor();
    await page.locator('.conversation-row').first().filter({ hasText: 'the newer one' }).waitFor();

    await page.goto(older);
    await reply(page, 'complete').waitFor();
    await send(page, '!dev words=60 delay_ms=50\nback to the older one');
    await reply(page, 'streaming').waitFor();
    const top = page.locator('.conversation-row').first();
    await top.filter({ hasText: 'the older one' }).locator('.dot').waitFor();
    // The list in Postgres learns of a reply when it ends (or 2 s in): a refresh before that must not undo
    // what this tab already knows, moving the conversation down and dropping its replying dot.
    const refreshed = page.waitForResponse((r) => /\/api\/v1\/chat\/conversations\?/.test(r.url()));
    await page.evaluate(() => window.dispatchEvent(new Event('focus')));
    await refreshed;
    expect(await reply(page, 'streaming').count()).toBe(1);
    expect(await top.innerText()).toContain('the older one');
    expect(await top.locator('.dot').count()).toBe(1);
    await page.context().close();
  });

  test('the network cut mid-reply: Offline, then back, and the text completes with no word twice', async () => {
    const context = await signedInContext(shared.browser, shared.stack, uniqueUser());
    const page = await context.newPage();
    await page.goto('/');
    await send(page, '!dev words=3\nwarm up');
    await reply(page, 'complete').waitFor();
    await page.locator('.connection[data-link="connected"]').waitFor();

    await send(page, '!dev words=80 delay_ms=40\nsurvive a drop');
    await page.waitForFunction(() => {
      const replies = document.querySelectorAll('article.message.assistant');
      return (replies[replies.length - 1]?.textContent ?? '').split(/\s+/).length > 15;
    });
    await context.setOffline(true);
    await page.locator('.connection[data-link="offline"]').waitFor();
    await screenshot(page, '13-offline');
    await context.setOffline(false);
    await page.locator('.connection[data-link="connected"]').waitFor();
    await reply(page, 'complete').nth(1).waitFor();
    const shown = await lastReply(page).locator('.bubble').innerText();
    expect(words(shown)).toHaveLength(80);
    expect(shown).toBe(await storedReply(page));
    await context.close();
  });

  test('tool calls and highlighted code are shown', async () => {
    const page = await openNewChat(shared);
    await send(page, '!dev calc=6*7\nwhat is six times seven');
    await reply(page, 'complete').waitFor();
    const tool = page.locator('.tool-call').first();
    await tool.waitFor();
    expect(await tool.locator('summary').innerText()).toContain('calculator');
    await tool.locator('summary').click();
    const shown = await tool.innerText();
    expect(shown).toContain('6*7');
    expect(shown).toContain('42');

    await send(page, '!dev echo\nHere:\n\n```js\nconst answer = 6 * 7;\nconsole.log(answer);\n```');
    await reply(page, 'complete').nth(1).waitFor();
    const code = lastReply(page).locator('[data-streamdown="code-block"]');
    await code.waitFor();
    await page.waitForFunction(() => {
      const spans = document.querySelectorAll('[data-streamdown="code-block-body"] span[style*="--sdm-c"]');
      return spans.length > 0;
    });
    await screenshot(page, '07-tool-and-code');
    await page.context().close();
  });

  test('phone width and dark mode', async () => {
    const context = await signedInContext(shared.browser, shared.stack, uniqueUser(), {
      viewport: { width: 390, height: 760 },
      colorScheme: 'dark',
    });
    const page = await context.newPage();
    await page.goto('/');
    await send(page, '!dev words=25\non a phone');
    await reply(page, 'complete').waitFor();
    await screenshot(page, '08-phone-dark');
    await page.getByRole('button', { name: 'Conversations' }).click();
    await page.locator('.conversation-row', { hasText: 'on a phone' }).waitFor();
    await screenshot(page, '09-phone-drawer');
    await context.close();
  });
});
