/** axe-core in Chromium: no serious or critical accessibility violations in the states a person meets. */
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';
import { describe, expect, test } from 'vitest';
import { send, sharedStackAndBrowser, signedInContext, uniqueUser } from './support';

const shared = sharedStackAndBrowser();
const axeSource = createRequire(import.meta.url)('axe-core').source as string;

interface Violation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/** The serious and critical violations on the page as it is now, each as `rule: help (targets)`. */
async function violations(page: Page): Promise<string[]> {
  // Evaluated, not added as a <script>: the page's CSP refuses inline scripts, as it should.
  await page.evaluate(axeSource);
  const found = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(): Promise<{ violations: Violation[] }> } }).axe;
    return (await axe.run()).violations;
  });
  return found
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
}

async function open(viewport = { width: 1200, height: 800 }, colorScheme: 'light' | 'dark' = 'light') {
  const context = await signedInContext(shared.browser, shared.stack, uniqueUser('a11y'), { viewport, colorScheme });
  const page = await context.newPage();
  await page.goto('/');
  await page.getByLabel('Message', { exact: true }).waitFor();
  return page;
}

describe('accessibility (axe-core)', () => {
  test('the empty state', async () => {
    const page = await open();
    await page.getByText('Ask the agent anything').waitFor();
    expect(await violations(page)).toEqual([]);
    await page.context().close();
  });

  test('a conversation with a tool call and one waiting for approval, then its rename and delete dialogs', async () => {
    const page = await open();
    await send(page, '!dev calc=12*(3+4)\nwhat is it?');
    await page.locator('article.message.assistant[data-status="complete"]').waitFor();
    await page.locator('.tool-call').first().waitFor();
    expect(await violations(page)).toEqual([]);
    await send(page, '!dev approve=calc calc=2*21\nand this?');
    await page.getByRole('group', { name: 'Allow the agent to use calculator with this input?' }).waitFor();
    expect(await violations(page)).toEqual([]);

    const row = page.locator('.conversation-row').first();
    await row.getByRole('button', { name: /^Rename/ }).click();
    await page.getByLabel('New title').waitFor();
    expect(await violations(page)).toEqual([]);
    await page.getByRole('button', { name: 'Cancel' }).click();

    await page
      .locator('.conversation-row')
      .first()
      .getByRole('button', { name: /^Delete/ })
      .click();
    await page.getByText(/^Delete “/).waitFor();
    expect(await violations(page)).toEqual([]);
    await page.context().close();
  });

  test('a reply with two versions and a rating, with its comment box and the edit box open', async () => {
    const page = await open();
    await send(page, '!dev words=8\nanswer twice');
    const reply = page.locator('article.message.assistant').last();
    await page.locator('article.message.assistant[data-status="complete"]').waitFor();
    await reply.getByRole('button', { name: 'Regenerate reply' }).click();
    await page.locator('article.message.assistant[data-status="complete"] .branch-index', { hasText: '2/2' }).waitFor();
    await reply.getByRole('button', { name: 'Good reply' }).click();
    await reply.getByRole('button', { name: 'Comment', exact: true }).click();
    await page.getByRole('textbox', { name: /Comment on this reply/ }).waitFor();
    await page.getByRole('button', { name: 'Edit message' }).click();
    await page.getByRole('textbox', { name: /Edited message/ }).waitFor();
    expect(await violations(page)).toEqual([]);
    await page.context().close();
  });

  test('the phone layout, dark, with the conversation drawer open', async () => {
    const page = await open({ width: 390, height: 760 }, 'dark');
    await send(page, '!dev words=12\non a phone');
    await page.locator('article.message.assistant[data-status="complete"]').waitFor();
    expect(await violations(page)).toEqual([]);
    await page.getByRole('button', { name: 'Conversations' }).click();
    await page.locator('.conversation-row').first().waitFor();
    expect(await violations(page)).toEqual([]);
    await page.context().close();
  });
});
