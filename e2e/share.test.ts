/** Live share links (SPEC §10) in Chromium: the owner's tab and a viewer's tab, side by side. */
import type { Page } from 'playwright-core';
import { describe, expect, test } from 'vitest';
import type { ShareLink } from '../worker/wire';
import { screenshot, send, sharedStackAndBrowser, signedInContext, stackApi, uniqueUser, words } from './support';

const shared = sharedStackAndBrowser();

/**
 * Notes (Date.now(), one clock for every tab of the browser) when the page's last reply first shows text: how far
 * the viewer trails the owner is printed, not asserted (timing belongs in benchmarks on this loaded machine).
 */
async function noteFirstText(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { firstText?: number };
    const replies = () => document.querySelectorAll('article.message.assistant').length;
    const before = replies();
    new MutationObserver((_, observer) => {
      const all = document.querySelectorAll('article.message.assistant');
      const last = all.item(all.length - 1);
      const bubble = last?.querySelector('.bubble');
      if (replies() > before && bubble && !bubble.querySelector('.thinking') && bubble.textContent?.trim()) {
        w.firstText = Date.now();
        observer.disconnect();
      }
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
}

const firstText = (page: Page) => page.evaluate(() => (window as unknown as { firstText?: number }).firstText);

describe('a live share link', () => {
  test('the viewer, signed out, sees the reply stream as it is written and the new messages; revoking ends it', async () => {
    const user = uniqueUser('sharer');
    const call = await stackApi(shared.stack, user);
    const conversation = await call<{ id: string }>('POST', '/conversations', { title: 'Shared live' });

    const ownerContext = await signedInContext(shared.browser, shared.stack, user, {
      viewport: { width: 900, height: 700 },
    });
    const owner = await ownerContext.newPage();
    await owner.goto(`/c/${conversation.id}`);
    await owner.getByLabel('Message', { exact: true }).waitFor();
    // The owner makes the link from the conversation's menu; the page shows it (and copies it where it may).
    await owner.getByRole('button', { name: 'More actions for “Shared live”' }).click();
    await owner.getByRole('menuitem', { name: 'Share live link' }).click();
    const madeLink = owner.locator('.row-share a');
    await madeLink.waitFor();
    const url = (await madeLink.getAttribute('href')) ?? '';
    const link = await call<ShareLink>('POST', `/conversations/${conversation.id}/share`);
    expect(url).toBe(link.url);
    // The conversation is marked shared, in its row and in its header (the room told the open tab).
    const ownerRow = owner.locator('.conversation-row', { hasText: 'Shared live' });
    await ownerRow.locator('.shared-mark').waitFor();
    await owner.locator('.chat-header .shared-mark').waitFor();

    const viewerContext = await shared.browser.newContext({ viewport: { width: 900, height: 700 } });
    const viewer = await viewerContext.newPage();
    const problems: string[] = [];
    viewer.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    await viewer.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP: ${e.violatedDirective}`));
    });
    expect(link.url).toMatch(new RegExp(`/s/${link.share_id}$`));
    const page = await viewer.goto(`${shared.stack.url}/s/${link.share_id}`);
    expect(page?.headers()['content-security-policy']).toContain("default-src 'none'");
    await viewer.getByRole('heading', { name: 'Shared live' }).waitFor();
    await viewer.locator('output[data-link="live"]').waitFor();
    // Read-only: no composer, no sign-in form, and nothing of the owner's.
    expect(await viewer.getByLabel('Message', { exact: true }).count()).toBe(0);
    expect(await viewer.getByText(user).count()).toBe(0);

    await noteFirstText(owner);
    await noteFirstText(viewer);
    await send(owner, '!dev words=80 delay_ms=60\nshow them');

    // The viewer's reply is streaming and has words while the owner's is still being written.
    const viewerReply = viewer.locator('article.message.assistant').last();
    const ownerReply = owner.locator('article.message.assistant').last();
    const shown = async (reply: typeof viewerReply) =>
      (await reply.locator('.thinking').count()) ? 0 : words(await reply.locator('.bubble').innerText()).length;
    await expect.poll(() => shown(viewerReply), { timeout: 30_000 }).toBeGreaterThan(3);
    expect(await viewerReply.getAttribute('data-status')).toBe('streaming');
    expect(await shown(viewerReply)).toBeLessThan(80);
    expect(await ownerReply.getAttribute('data-status')).toBe('streaming');
    await viewer.locator('article.message.user').getByText('show them').waitFor();
    await screenshot(owner, 'share-owner-streaming');
    await screenshot(viewer, 'share-viewer-streaming');

    await ownerReply.and(owner.locator('[data-status="complete"]')).waitFor({ timeout: 60_000 });
    await viewerReply.and(viewer.locator('[data-status="complete"]')).waitFor({ timeout: 30_000 });
    const ownerText = await ownerReply.locator('.bubble').innerText();
    expect(words(ownerText)).toHaveLength(80);
    await expect.poll(() => viewerReply.locator('.bubble').innerText()).toBe(ownerText);
    const [ownerAt, viewerAt] = [await firstText(owner), await firstText(viewer)];
    console.log(`share viewer's first text ${viewerAt && ownerAt ? viewerAt - ownerAt : '?'} ms after the owner's`);

    // A second turn appears too: a new message and its reply.
    await send(owner, '!dev words=5\nagain');
    await viewer.locator('article.message.user').getByText('again').waitFor();
    await expect.poll(() => viewer.locator('article.message.assistant').count(), { timeout: 30_000 }).toBe(2);
    await viewer.locator('article.message.assistant[data-status="complete"]').nth(1).waitFor({ timeout: 30_000 });

    // A reload shows what was written, in order.
    await viewer.reload();
    await expect.poll(() => viewer.locator('article.message').count(), { timeout: 30_000 }).toBe(4);
    expect(await viewer.locator('article.message.assistant').first().locator('.bubble').innerText()).toBe(ownerText);

    await owner.getByRole('button', { name: 'More actions for “Shared live”' }).click();
    await owner.getByRole('menuitem', { name: 'Stop sharing' }).click();
    await owner.getByText('Sharing stopped: the link no longer works.').waitFor();
    await owner.locator('.chat-header .shared-mark').waitFor({ state: 'detached' });
    expect(await ownerRow.locator('.shared-mark').count()).toBe(0);
    await viewer.getByRole('heading', { name: 'This shared conversation is not available' }).waitFor();
    expect(problems.filter((p) => !p.includes('404'))).toEqual([]);
    await ownerContext.close();
    await viewerContext.close();
  });
});
