/** Find, keep and share (SPEC §10) in the page: search, pin and archive in the sidebar. */
import type { Page } from 'playwright-core';
import { describe, expect, test } from 'vitest';
import type { SearchResults } from '../worker/wire';
import { sharedStackAndBrowser, signedInContext, stackApi, uniqueUser } from './support';

const shared = sharedStackAndBrowser();

async function openPage(user: string): Promise<Page> {
  const context = await signedInContext(shared.browser, shared.stack, user);
  const page = await context.newPage();
  await page.goto('/');
  await page.getByLabel('Message', { exact: true }).waitFor();
  return page;
}

const rowTitles = (page: Page, list = '.conversation-list') =>
  page.locator(`${list} .conversation-row .title`).allInnerTexts();

async function menuAction(page: Page, title: string, action: string): Promise<void> {
  await page.getByRole('button', { name: `More actions for “${title}”` }).click();
  await page.getByRole('menuitem', { name: action }).click();
}

describe('pin and archive in the sidebar', () => {
  test('a pinned conversation heads its own section; an archived one moves to the Archived view and back', async () => {
    const user = uniqueUser('keeper');
    const call = await stackApi(shared.stack, user);
    for (const title of ['alpha', 'beta', 'gamma']) await call('POST', '/conversations', { title });
    const page = await openPage(user);
    await page.locator('.conversation-row').nth(2).waitFor();
    expect(await rowTitles(page)).toEqual(['gamma', 'beta', 'alpha']);
    await expect.poll(() => page.getByRole('heading', { name: 'Pinned' }).count()).toBe(0);

    await menuAction(page, 'alpha', 'Pin');
    await page.locator('.pinned-list .conversation-row').waitFor();
    expect(await rowTitles(page, '.pinned-list')).toEqual(['alpha']);
    expect(await rowTitles(page)).toEqual(['alpha', 'gamma', 'beta']);

    await menuAction(page, 'beta', 'Archive');
    await expect.poll(() => rowTitles(page)).toEqual(['alpha', 'gamma']);
    await page.getByRole('button', { name: 'Archived conversations' }).click();
    await page.getByRole('heading', { name: 'Archived' }).waitFor();
    await expect.poll(() => rowTitles(page)).toEqual(['beta']);

    await menuAction(page, 'beta', 'Unarchive');
    await page.getByText('No archived conversations.').waitFor();
    await page.getByRole('button', { name: '← Conversations' }).click();
    await expect.poll(() => rowTitles(page)).toEqual(['alpha', 'gamma', 'beta']);

    // What the page shows is what the server keeps.
    await page.reload();
    await page.locator('.pinned-list .conversation-row').waitFor();
    await expect.poll(() => rowTitles(page)).toEqual(['alpha', 'gamma', 'beta']);
    await menuAction(page, 'alpha', 'Unpin');
    await expect.poll(() => page.getByRole('heading', { name: 'Pinned' }).count()).toBe(0);
  });
});

describe('search in the sidebar', () => {
  test('Ctrl+K focuses the box; results mark the words; Enter opens the conversation at the marked message', async () => {
    const user = uniqueUser('finder');
    const call = await stackApi(shared.stack, user);
    const trip = await call<{ id: string }>('POST', '/conversations', { title: 'Trip notes' });
    const send = (content: string) =>
      call<{ message: { id: string } }>('POST', '/messages', {
        conversation_id: trip.id,
        content: `!dev words=1\n${content}`,
      });
    const target = await send('Книга about the Aurora borealis near Tromsø');
    // 30 more exchanges: the found message is older than the first page of history the pane loads (50 messages).
    for (let i = 0; i < 30; i++) await send(`later message number ${i}`);
    await call('POST', '/conversations', { title: 'Other' });
    // The rooms flush to Postgres as each reply ends; wait until search sees the message.
    await expect
      .poll(async () => (await call<SearchResults>('GET', '/search?q=aurora')).results.length, { timeout: 20_000 })
      .toBe(1);

    const page = await openPage(user);
    await page.keyboard.press('Control+k');
    const box = page.getByRole('combobox', { name: 'Search conversations' });
    await expect.poll(() => box.evaluate((el) => el === document.activeElement)).toBe(true);
    await box.fill('книга "aurora borealis" -skiing');
    const option = page.getByRole('option').first();
    await option.waitFor();
    expect(await page.getByRole('option').count()).toBe(1);
    expect(await option.locator('.result-title').innerText()).toBe('Trip notes');
    expect(await option.locator('mark').allInnerTexts()).toEqual(['Книга', 'Aurora', 'borealis']);
    // Plain text only: nothing from a message becomes markup.
    expect(await option.locator('.snippet *:not(mark)').count()).toBe(0);

    await box.press('Enter');
    const marked = page.locator(`article.message.found[data-message-id="${target.message.id}"]`);
    await marked.waitFor();
    expect(await marked.getAttribute('aria-current')).toBe('true');
    expect(await page.locator('.chat-title').innerText()).toBe('Trip notes');
    await expect
      .poll(() =>
        marked.evaluate((el) => {
          const box = el.getBoundingClientRect();
          const view = el.closest('.message-scroller')?.getBoundingClientRect();
          return !!view && box.bottom > view.top && box.top < view.bottom;
        }),
      )
      .toBe(true);
    expect(await page.locator('article.message.found').count()).toBe(1);

    await box.fill('nothing-like-this-anywhere');
    await page.getByText('No matches.').waitFor();
  });
});

describe('export from the row menu', () => {
  test('Export as Markdown saves the conversation as a .md file with its messages', async () => {
    const user = uniqueUser('exporter');
    const call = await stackApi(shared.stack, user);
    const c = await call<{ id: string }>('POST', '/conversations', { title: 'Keep this' });
    await call('POST', '/messages', { conversation_id: c.id, content: '!dev words=2\nremember the milk' });
    const page = await openPage(user);
    await page.locator('.conversation-row').first().waitFor();
    const saved = page.waitForEvent('download');
    await menuAction(page, 'Keep this', 'Export as Markdown');
    const download = await saved;
    expect(download.suggestedFilename()).toBe('Keep this.md');
    const chunks: Buffer[] = [];
    for await (const chunk of await download.createReadStream()) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    expect(text.startsWith('# Keep this\n')).toBe(true);
    expect(text).toContain('remember the milk');
  });
});
