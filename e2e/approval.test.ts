/** Tool approval on the page (SPEC §9): Approve / Deny on a tool call the agent asks about, the same in every tab. */
import type { Locator, Page } from 'playwright-core';
import { describe, expect, test } from 'vitest';
import { lastReply, openNewChat, screenshot, send, sharedStackAndBrowser } from './support';

const shared = sharedStackAndBrowser();

const QUESTION = 'Allow the agent to use calculator with this input?';
const prompt = (page: Page) => page.getByRole('group', { name: QUESTION });
const toolState = (reply: Locator) => reply.locator('.tool-call .tool-state');

/**
 * Notes, from now on, whether the page's last reply ever shows `text` while it streams; read it with the function
 * returned. Every change of the page is seen (a MutationObserver), not only those a poll happens upon.
 */
async function watchStreaming(page: Page, text: string): Promise<() => Promise<boolean>> {
  await page.evaluate((text) => {
    const seen = window as unknown as { streamedText?: boolean };
    seen.streamedText = false;
    new MutationObserver((_, observer) => {
      const reply = Array.from(document.querySelectorAll('article.message.assistant')).at(-1);
      if (reply?.getAttribute('data-status') !== 'streaming' || !reply.textContent?.includes(text)) return;
      seen.streamedText = true;
      observer.disconnect();
    }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
  }, text);
  return () => page.evaluate(() => (window as unknown as { streamedText?: boolean }).streamedText === true);
}

/** Waits until the page's last reply is complete, says `text` and its tool call's header says `state`. */
async function waitForReply(page: Page, text: string, state: string): Promise<void> {
  const reply = lastReply(page);
  await reply.and(page.locator('[data-status="complete"]')).filter({ hasText: text }).waitFor({ timeout: 30_000 });
  await toolState(reply)
    .filter({ hasText: new RegExp(`^${state}$`) })
    .waitFor();
}

describe('tool approval on the page', () => {
  test('approved from a second tab: the reply goes on in the same message in both; a send supersedes the next request', async () => {
    const first = await openNewChat(shared);
    // Slow enough (400 ms a chunk) to see the continuation stream in each tab before it ends, even on a loaded machine.
    await send(first, '!dev approve=calc calc=2+3 delay_ms=400\nwhat is it?');
    await prompt(first).waitFor();
    // The input is shown as text, and nothing has run.
    expect(await lastReply(first).locator('.tool-io pre').innerText()).toBe('{\n  "expression": "2+3"\n}');
    expect(await lastReply(first).innerText()).not.toContain('The result');

    // A second tab opened on the conversation (from its history) asks too, and answers from the keyboard.
    const second = await first.context().newPage();
    await second.goto(first.url());
    await second.locator('.connection[data-link="connected"]').waitFor();
    await screenshot(second, 'approval-01-asked');
    const streamedIn = [await watchStreaming(first, 'The result'), await watchStreaming(second, 'The result')];
    await prompt(second).getByRole('button', { name: 'Approve' }).focus();
    await second.keyboard.press('Enter');

    for (const page of [second, first]) {
      await waitForReply(page, 'The result of 2+3 is 5.', 'approved · done');
      expect(await page.locator('article.message.assistant').count()).toBe(1);
      expect(await prompt(page).count()).toBe(0);
    }
    // It went on live in both tabs: the one that had the reply's chunks and the one that loaded it from history.
    expect(await Promise.all(streamedIn.map((streamed) => streamed()))).toEqual([true, true]);
    // The focus stayed on the answered call, not on the page.
    expect(await second.evaluate(() => document.activeElement?.closest('.tool-call')?.tagName)).toBe('DETAILS');
    await screenshot(first, 'approval-02-approved-other-tab');

    // A send while a request waits denies it (superseded), in both tabs.
    await send(second, '!dev approve=calc calc=3*3\nand this?');
    await prompt(first).waitFor();
    await send(first, '!dev echo\nnever mind');
    for (const page of [first, second]) {
      const asked = page.locator('article.message.assistant').nth(1);
      await toolState(asked).filter({ hasText: 'denied: a newer message was sent' }).waitFor();
      await lastReply(page).and(page.locator('[data-status="complete"]')).filter({ hasText: 'never mind' }).waitFor();
      expect(await prompt(page).count()).toBe(0);
    }
    await first.context().close();
  });

  test('deny, then "always allow in this conversation": the next calculator call runs without asking', async () => {
    const page = await openNewChat(shared);
    await send(page, '!dev approve=calc calc=6*7\nfirst');
    await prompt(page).getByRole('button', { name: 'Deny' }).click();
    await waitForReply(page, 'I did not use the calculator: the request was denied.', 'denied');

    await send(page, '!dev approve=calc calc=1+1\nsecond');
    await prompt(page).getByRole('checkbox', { name: 'Always allow in this conversation' }).check();
    await prompt(page).getByRole('button', { name: 'Approve' }).click();
    await waitForReply(page, 'The result of 1+1 is 2.', 'approved · done');

    await send(page, '!dev approve=calc calc=2+2\nthird');
    await waitForReply(page, 'The result of 2+2 is 4.', 'always allowed in this conversation · done');
    expect(await prompt(page).count()).toBe(0);
    await screenshot(page, 'approval-03-always-allowed');
    await page.context().close();
  });
});
