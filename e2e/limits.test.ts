/** Rate limits as the person sees them: a refusal explained with a countdown that counts down, then a retry. */
import { expect, test } from 'vitest';
import { screenshot, send, sharedStackAndBrowser, signedInContext, uniqueUser } from './support';

// Bursts of 3, a send back every 3 s: the countdown is short enough to wait out.
const shared = sharedStackAndBrowser({
  RATE_LIMIT_USER_PER_MINUTE: '20',
  RATE_LIMIT_USER_BURST: '3',
  RATE_LIMIT_CONVERSATION_PER_MINUTE: '20',
  RATE_LIMIT_CONVERSATION_BURST: '3',
});

test('a rate-limited send is explained, with a countdown that counts down, and can be retried after it', async () => {
  const context = await signedInContext(shared.browser, shared.stack, uniqueUser('limits'));
  const page = await context.newPage();
  await page.goto('/');
  const notice = page.locator('.notice.rate_limited');
  const complete = page.locator('article.message.assistant[data-status="complete"]');
  for (let i = 0; i < 6 && !(await notice.isVisible()); i++) {
    await send(page, `!dev words=1\nmessage ${i}`);
    await Promise.race([notice.waitFor(), complete.nth(i).waitFor()]);
  }
  await notice.waitFor();
  expect(await notice.innerText()).toMatch(/faster than allowed\. You can send again in \d+ s/);
  const failed = page.locator('article.message.user[data-status="failed"]');
  expect(await failed.count()).toBe(1);
  const sentBefore = await complete.count();

  const wait = page.getByRole('button', { name: /^Wait \d+ s$/ });
  const first = Number(/\d+/.exec(await wait.innerText())?.[0]);
  expect(first).toBeGreaterThanOrEqual(1);
  await screenshot(page, '12-rate-limited');
  // The countdown counts down (to a smaller number, or done), then the composer can send again.
  await page.waitForFunction((from) => {
    const label = document.querySelector('form button[type="submit"]')?.textContent ?? '';
    const left = /^Wait (\d+) s$/.exec(label)?.[1];
    return left === undefined || Number(left) < from;
  }, first);
  await page.getByRole('button', { name: 'Send', exact: true }).waitFor();

  await failed.getByRole('button', { name: 'Retry' }).click();
  await complete.nth(sentBefore).waitFor();
  expect(await failed.count()).toBe(0);
  expect(await page.locator('article.message.user').last().innerText()).toContain(`message ${sentBefore}`);
  await context.close();
});
