/** The keyboard in the page: Shift+Enter in the composer, Cancel and Escape in the sidebar's rename and delete. */
import type { Page } from 'playwright-core';
import { describe, expect, test } from 'vitest';
import { sharedStackAndBrowser, signedInContext, uniqueUser, words } from './support';

const shared = sharedStackAndBrowser();

async function chatWithOneReply(title: string): Promise<Page> {
  const context = await signedInContext(shared.browser, shared.stack, uniqueUser('keys'));
  const page = await context.newPage();
  await page.goto('/');
  const box = page.getByLabel('Message', { exact: true });
  await box.fill(`!dev words=2\n${title}`);
  await box.press('Enter');
  await page.locator('article.message.assistant[data-status="complete"]').waitFor();
  await page.locator('.conversation-row', { hasText: title }).waitFor();
  return page;
}

describe('keyboard', () => {
  test('Shift+Enter breaks the line and sends nothing; Enter then sends the lines as one message', async () => {
    const context = await signedInContext(shared.browser, shared.stack, uniqueUser('keys'));
    const page = await context.newPage();
    await page.goto('/');
    const box = page.getByLabel('Message', { exact: true });
    await box.click();
    await page.keyboard.type('!dev echo');
    await page.keyboard.press('Shift+Enter');
    await page.keyboard.type('first line');
    await page.keyboard.press('Shift+Enter');
    await page.keyboard.type('second line');
    expect(await box.inputValue()).toBe('!dev echo\nfirst line\nsecond line');
    expect(await page.locator('article.message').count()).toBe(0);

    await page.keyboard.press('Enter');
    const replied = page.locator('article.message.assistant[data-status="complete"]');
    await replied.waitFor();
    expect(await box.inputValue()).toBe('');
    expect(await page.locator('article.message.user').count()).toBe(1);
    expect(await page.locator('article.message.user .bubble').innerText()).toBe('!dev echo\nfirst line\nsecond line');
    // One message: the agent echoes both lines below its `!dev` line.
    expect(words(await replied.locator('.bubble').innerText())).toEqual(['first', 'line', 'second', 'line']);
    await context.close();
  });

  test('rename: Escape and Cancel leave the title as it was and give the focus back to the row', async () => {
    const page = await chatWithOneReply('keep this title');
    const patches: string[] = [];
    page.on('request', (r) => {
      if (r.method() === 'PATCH') patches.push(r.url());
    });
    const renameButton = page.getByRole('button', { name: 'Rename “keep this title”' });
    const input = page.getByLabel('New title');

    await renameButton.click();
    await input.fill('thrown away by Escape');
    await input.press('Escape');
    await input.waitFor({ state: 'detached' });
    await page.waitForFunction(() => document.activeElement?.getAttribute('aria-label') === 'Rename “keep this title”');

    await renameButton.click();
    await input.fill('thrown away by Cancel');
    await page.getByRole('button', { name: 'Cancel' }).click();
    await input.waitFor({ state: 'detached' });
    await page.waitForFunction(() => document.activeElement?.getAttribute('aria-label') === 'Rename “keep this title”');

    expect(await page.locator('.conversation-row .title').allInnerTexts()).toEqual(['keep this title']);
    expect(await page.locator('.chat-title').innerText()).toBe('keep this title');
    expect(patches).toEqual([]);
    await page.reload();
    await page.locator('.conversation-row', { hasText: 'keep this title' }).waitFor();
    await page.context().close();
  });

  test('delete: Cancel and Escape keep the conversation; only Delete removes it', async () => {
    const page = await chatWithOneReply('do not delete me');
    const deletes: string[] = [];
    page.on('request', (r) => {
      if (r.method() === 'DELETE') deletes.push(r.url());
    });
    const deleteButton = page.getByRole('button', { name: 'Delete “do not delete me”' });
    const question = page.getByText('Delete “do not delete me”?');

    await deleteButton.click();
    await question.waitFor();
    await page.getByRole('button', { name: 'Cancel' }).click();
    await question.waitFor({ state: 'detached' });

    await deleteButton.click();
    await question.waitFor();
    // The confirmation takes the focus (its Cancel), so Escape reaches it from the keyboard.
    await page.keyboard.press('Escape');
    await question.waitFor({ state: 'detached' });
    await page.waitForFunction(
      () => document.activeElement?.getAttribute('aria-label') === 'Rename “do not delete me”',
    );

    expect(deletes).toEqual([]);
    await page.reload();
    await page.locator('article.message.assistant[data-status="complete"]').waitFor();
    await page.locator('.conversation-row', { hasText: 'do not delete me' }).waitFor();
    await page.context().close();
  });
});
