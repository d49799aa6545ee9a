/** Page quality found by trying the page as a new user: narrow screens, Markdown after a reply, screen readers, keys. */
import type { Page } from 'playwright-core';
import { describe, expect, test } from 'vitest';
import { lastReply, send, sharedStackAndBrowser, signedInContext, uniqueUser } from './support';

const shared = sharedStackAndBrowser();

async function open(user = uniqueUser(), viewport = { width: 1200, height: 800 }): Promise<Page> {
  const context = await signedInContext(shared.browser, shared.stack, user, { viewport });
  const page = await context.newPage();
  await page.goto('/');
  await page.getByLabel('Message', { exact: true }).waitFor();
  return page;
}

const reply = (page: Page, status: string) => page.locator(`article.message.assistant[data-status="${status}"]`);

describe('page quality', () => {
  test('at 390 px with an e-mail address as the user name nothing is wider than the screen', async () => {
    const user = `a.rather.long.name.${Date.now().toString(36)}@dashboard-users.example.com`;
    const page = await open(user, { width: 390, height: 760 });
    await send(page, '!dev words=12\na phone with a long name');
    await reply(page, 'complete').waitFor();
    await page.getByText('Connected').waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBe(0);
    for (const selector of ['.topbar', '.who', '.connection', '.chat-header', '.composer', 'button.send']) {
      const box = await page.locator(selector).first().boundingBox();
      expect(box, selector).not.toBeNull();
      expect((box?.x ?? 0) + (box?.width ?? 0), selector).toBeLessThanOrEqual(390);
    }
    await page.context().close();
  });

  test('a finished reply renders its text as written: no stray * from incomplete-Markdown repair', async () => {
    const page = await open();
    await send(page, '!dev echo\n12*(3+4)');
    await reply(page, 'complete').waitFor();
    expect((await lastReply(page).locator('.bubble').innerText()).trim()).toBe('12*(3+4)');
    await page.context().close();
  });

  test('replies are announced when they finish: a polite log that is busy while a reply streams', async () => {
    const page = await open();
    const log = page.getByRole('log', { name: 'Messages' });
    expect(await log.getAttribute('aria-live')).not.toBe('off');
    await send(page, '!dev words=30 delay_ms=30\nannounce me');
    await reply(page, 'streaming').waitFor();
    expect(await log.getAttribute('aria-busy')).toBe('true');
    await reply(page, 'complete').waitFor();
    expect(await log.getAttribute('aria-busy')).toBe('false');
    expect(await log.getAttribute('aria-live')).toBe('polite');
    await page.context().close();
  });

  test('messages take their direction from their text (dir="auto")', async () => {
    const page = await open();
    await send(page, '!dev echo\nשלום עולם, מה שלומך?');
    await reply(page, 'complete').waitFor();
    for (const message of await page.locator('article.message').all()) {
      expect(await message.getAttribute('dir')).toBe('auto');
    }
    // The reply is the Hebrew text alone (the question starts with the `!dev` line, so it stays left to right).
    expect(
      await lastReply(page)
        .locator('.bubble')
        .evaluate((el) => getComputedStyle(el).direction),
    ).toBe('rtl');
    await page.context().close();
  });

  test('Esc stops a streaming reply and keeps its partial text', async () => {
    const page = await open();
    await send(page, '!dev words=400 delay_ms=30\nstop me with Esc');
    await page.waitForFunction(() => {
      const text = document.querySelector('article.message.assistant .bubble')?.textContent ?? '';
      return text.split(/\s+/).length > 5;
    });
    await page.keyboard.press('Escape');
    await reply(page, 'stopped').waitFor();
    const words = (await lastReply(page).locator('.bubble').innerText()).split(/\s+/).filter(Boolean);
    expect(words.length).toBeGreaterThan(5);
    expect(words.length).toBeLessThan(400);
    await page.context().close();
  });
});
