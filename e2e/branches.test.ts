/** Branches on the page (SPEC §9): edit a message, regenerate a reply, the ‹ n/m › picker, in every open tab. */
import type { Page } from 'playwright-core';
import { describe, expect, test } from 'vitest';
import { lastReply, openNewChat, screenshot, send, sharedStackAndBrowser } from './support';

const shared = sharedStackAndBrowser();

/** Waits until the page shows exactly these user messages and replies, in order (texts contained, not equal). */
async function waitForPath(page: Page, expected: { user: string[]; replies: string[] }): Promise<void> {
  await page.waitForFunction(
    ({ user, replies }) => {
      const texts = (selector: string) =>
        Array.from(document.querySelectorAll(selector), (el) => el.querySelector('.bubble')?.textContent ?? '');
      const shownUser = texts('article.message.user');
      const shownReplies = texts('article.message.assistant[data-status="complete"]');
      const all = document.querySelectorAll('article.message').length;
      return (
        all === user.length + replies.length &&
        shownUser.length === user.length &&
        shownReplies.length === replies.length &&
        user.every((t, i) => shownUser[i]?.includes(t)) &&
        replies.every((t, i) => shownReplies[i]?.includes(t))
      );
    },
    expected,
    { timeout: 60_000 },
  );
}

const picker = (page: Page, role: 'user' | 'assistant') =>
  page.locator(`article.message.${role}`).last().locator('.branch-picker');

describe('branches on the page', () => {
  test('edit makes a new branch (2/2); the picker goes back to the old answer (1/2) and forth, Esc cancels', async () => {
    const page = await openNewChat(shared);
    await send(page, '!dev echo\nfirst version');
    await waitForPath(page, { user: ['first version'], replies: ['first version'] });
    await expect(page.locator('.branch-picker').count()).resolves.toBe(0);

    // Esc cancels: the text stays, the focus goes back to the Edit button.
    const editButton = page.getByRole('button', { name: 'Edit message' });
    await editButton.click();
    const box = page.getByRole('textbox', { name: /Edited message/ });
    await expect(box.inputValue()).resolves.toBe('!dev echo\nfirst version');
    await box.fill('!dev echo\nnot sent');
    await box.press('Escape');
    await box.waitFor({ state: 'detached' });
    await page.waitForFunction(() => document.activeElement?.getAttribute('aria-label') === 'Edit message');
    expect(await page.locator('article.message.user .bubble').innerText()).toContain('first version');

    // From the keyboard: Enter on the focused Edit button, Shift+Enter breaks the line, Enter sends the edit.
    await page.keyboard.press('Enter');
    await box.waitFor();
    await box.fill('!dev echo');
    await box.press('Shift+Enter');
    await box.pressSequentially('second version');
    await expect(box.inputValue()).resolves.toBe('!dev echo\nsecond version');
    await box.press('Enter');
    await waitForPath(page, { user: ['second version'], replies: ['second version'] });
    await picker(page, 'user').getByText('2/2').waitFor();
    expect(await picker(page, 'user').getAttribute('aria-label')).toBe('Version 2 of 2 of this message');
    await screenshot(page, 'branches-01-edited');

    await picker(page, 'user').getByRole('button', { name: 'Previous version of this message' }).click();
    await waitForPath(page, { user: ['first version'], replies: ['first version'] });
    await picker(page, 'user').getByText('1/2').waitFor();

    // After a reload the page still knows both versions and where it is.
    await page.reload();
    await waitForPath(page, { user: ['first version'], replies: ['first version'] });
    await picker(page, 'user').getByText('1/2').waitFor();
    const next = picker(page, 'user').getByRole('button', { name: 'Next version of this message' });
    await next.focus();
    await page.keyboard.press('Enter');
    await waitForPath(page, { user: ['second version'], replies: ['second version'] });
    await picker(page, 'user').getByText('2/2').waitFor();
    await page.context().close();
  });

  test('regenerate in one tab: a second answer (2/2), and the other tab follows live, both ways', async () => {
    const first = await openNewChat(shared);
    await send(first, '!dev inspect\nwhat is asked');
    await waitForPath(first, { user: ['what is asked'], replies: ['trigger=submit-message'] });
    const second = await first.context().newPage();
    await second.goto(first.url());
    await second.locator('.connection[data-link="connected"]').waitFor();
    await waitForPath(second, { user: ['what is asked'], replies: ['trigger=submit-message'] });

    await lastReply(first).getByRole('button', { name: 'Regenerate reply' }).click();
    await waitForPath(first, { user: ['what is asked'], replies: ['trigger=regenerate-message'] });
    await picker(first, 'assistant').getByText('2/2').waitFor();
    // The other tab, untouched, shows the new answer and its place.
    await waitForPath(second, { user: ['what is asked'], replies: ['trigger=regenerate-message'] });
    await picker(second, 'assistant').getByText('2/2').waitFor();
    await screenshot(second, 'branches-02-regenerated-other-tab');

    // A switch in the second tab is followed by the first.
    await picker(second, 'assistant').getByRole('button', { name: 'Previous version of this reply' }).click();
    await waitForPath(second, { user: ['what is asked'], replies: ['trigger=submit-message'] });
    await waitForPath(first, { user: ['what is asked'], replies: ['trigger=submit-message'] });
    await picker(first, 'assistant').getByText('1/2').waitFor();

    // A thumb and a comment given in one tab show in the other; the same thumb again takes both back.
    const thumb = (page: Page, name: string, pressed: boolean) =>
      lastReply(page).locator(`.thumbs button[aria-label="${name}"][aria-pressed="${pressed}"]`);
    await thumb(first, 'Good reply', false).click();
    await thumb(second, 'Good reply', true).waitFor();
    await lastReply(second).getByRole('button', { name: 'Comment', exact: true }).focus();
    await second.keyboard.press('Enter');
    const comment = second.getByRole('textbox', { name: /Comment on this reply/ });
    await comment.fill('clear, but too long');
    await comment.press('Enter');
    await lastReply(first).locator('.feedback-comment', { hasText: 'clear, but too long' }).waitFor();
    await thumb(first, 'Bad reply', false).waitFor();
    await screenshot(first, 'branches-03-feedback-other-tab');
    await thumb(first, 'Good reply', true).click();
    await thumb(second, 'Good reply', false).waitFor();
    await lastReply(second).locator('.feedback-comment').waitFor({ state: 'detached' });
    await first.context().close();
  });
});
