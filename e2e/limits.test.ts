/** Rate limits as the person sees them: the default limits (5 in a burst), explained with a countdown. */
import { expect, test } from 'vitest';
import { screenshot, send, sharedStackAndBrowser, signedInContext, uniqueUser } from './support';

const shared = sharedStackAndBrowser({
  RATE_LIMIT_USER_PER_MINUTE: '2',
  RATE_LIMIT_USER_BURST: '3',
  RATE_LIMIT_CONVERSATION_PER_MINUTE: '2',
  RATE_LIMIT_CONVERSATION_BURST: '3',
});

test('a rate-limited send is explained, with a countdown, and can be retried', async () => {
  const context = await signedInContext(shared.browser, shared.stack, uniqueUser('limits'));
  const page = await context.newPage();
  await page.goto('/');
  const notice = page.locator('.notice.rate_limited');
  for (let i = 0; i < 6 && !(await notice.isVisible()); i++) {
    await send(page, `!dev words=1\nmessage ${i}`);
    await Promise.race([
      notice.waitFor(),
      page.locator('article.message.assistant[data-status="complete"]').nth(i).waitFor(),
    ]);
  }
  await notice.waitFor();
  expect(await notice.innerText()).toMatch(/faster than allowed\. You can send again in \d+ s/);
  expect(await page.locator('article.message.user[data-status="failed"]').count()).toBe(1);
  expect(await page.getByRole('button', { name: /^Wait \d+ s$/ }).count()).toBe(1);
  await screenshot(page, '12-rate-limited');
  await context.close();
});
