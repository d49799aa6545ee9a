/** Long histories in the page: older messages load as the person scrolls up, more conversations as the list ends. */
import { describe, expect, test } from 'vitest';
import { sharedStackAndBrowser, signedInContext, uniqueUser } from './support';

const shared = sharedStackAndBrowser();

/** A call of the chat API as `user`, straight to the stack (seeding what the test then looks at). */
async function api(user: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${shared.stack.url}/api/v1/chat${path}`, {
    method,
    headers: { authorization: `Bearer ${await shared.stack.devToken(user)}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

const label = (i: number) => `seed ${String(i).padStart(2, '0')}`;

describe('long histories', () => {
  test('scrolling up loads the older messages above, keeping the view where it was', async () => {
    const user = uniqueUser('older');
    // 26 sends are 52 messages: the page's first 50 leave out the first question and its reply.
    const first = (await api(user, 'POST', '/messages', { content: `!dev words=30\n${label(0)}` })) as {
      conversation: { id: string };
    };
    const id = first.conversation.id;
    for (let i = 1; i < 26; i++)
      await api(user, 'POST', '/messages', { conversation_id: id, content: `!dev words=30\n${label(i)}` });

    const context = await signedInContext(shared.browser, shared.stack, user);
    const page = await context.newPage();
    await page.goto(`/c/${id}`);
    const users = page.locator('article.message.user');
    await users.filter({ hasText: label(25) }).waitFor();
    expect(await users.count()).toBe(25);
    expect(await users.first().innerText()).toContain(label(1));
    await page.getByRole('button', { name: 'Load older messages' }).waitFor({ state: 'attached' });

    const scroller = page.locator('.message-scroller');
    const heightBefore = await scroller.evaluate((el) => el.scrollHeight);
    await scroller.hover();
    await page.mouse.wheel(0, -heightBefore * 2);
    await users.filter({ hasText: label(0) }).waitFor();
    await page.getByRole('button', { name: 'Load older messages' }).waitFor({ state: 'detached' });
    expect(await users.allInnerTexts()).toEqual(
      Array.from({ length: 26 }, (_, i) => expect.stringContaining(label(i))),
    );
    expect(await page.locator('article.message.assistant[data-status="complete"]').count()).toBe(26);
    // The messages put above the view did not move it: what was at its top is still there, not the first question.
    const { top, added } = await scroller.evaluate(
      (el, before) => ({ top: el.scrollTop, added: el.scrollHeight - before }),
      heightBefore,
    );
    expect(added).toBeGreaterThan(100);
    expect(top).toBeGreaterThan(added / 2);
    await context.close();
  });

  test('the sidebar loads the next conversations when it is scrolled to its end', async () => {
    const user = uniqueUser('paging');
    // The list comes 30 at a time: 35 conversations need a second page.
    for (let i = 0; i < 35; i++) await api(user, 'POST', '/conversations', { title: label(i) });

    const context = await signedInContext(shared.browser, shared.stack, user, {
      viewport: { width: 1200, height: 600 },
    });
    const page = await context.newPage();
    const pages: string[] = [];
    page.on('request', (r) => {
      if (/\/api\/v1\/chat\/conversations\?/.test(r.url())) pages.push(r.url());
    });
    await page.goto('/');
    const rows = page.locator('.conversation-row');
    await rows.filter({ hasText: label(34) }).waitFor();
    await rows.filter({ hasText: label(5) }).waitFor();
    expect(await rows.count()).toBe(30);
    expect(pages.filter((u) => u.includes('cursor='))).toEqual([]);

    await page.locator('.sidebar').hover();
    await page.mouse.wheel(0, 10_000);
    await rows.filter({ hasText: label(0) }).waitFor();
    expect(await rows.allInnerTexts()).toEqual(
      Array.from({ length: 35 }, (_, i) => expect.stringContaining(label(34 - i))),
    );
    expect(pages.filter((u) => u.includes('cursor='))).toHaveLength(1);
    expect(await page.locator('.conversation-list .list-status').count()).toBe(0);
    await context.close();
  });
});
