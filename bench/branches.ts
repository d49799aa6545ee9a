/**
 * Switching branch on the page (SPEC §9), printed: the time from a click on ‹ or › of a reply's picker to the other
 * version shown (the picker's n/m and the reply's id changed in the DOM), in Chromium against the local stack.
 * A conversation of 48 messages whose last reply has two versions (a regenerate); 20 switches back and forth in one
 * page (both versions known to it), then the first switch after each of 5 fresh loads (the page holds only the
 * active path: the sibling's id comes with the reply's `branch`, its text with the page read after the switch).
 * Every wait has a deadline, and the whole run one more, so the bench always ends.
 * Run: npm run build && npm run bench:branches
 */
import type { Page } from 'playwright-core';
import type { Stack } from '../dev/stack';
import { GENEROUS_LIMITS, launchBrowser, signedInContext, startTestStack } from '../e2e/support';

const TURNS = 24;
const SWITCHES = 20;
const LOADS = 5;
const SWITCH_DEADLINE_MS = 20_000;
const RUN_DEADLINE_MS = 10 * 60_000;
const TARGET_P50_MS = 150;

/**
 * One POST, asked once more when the connection drops before an answer (a kept-alive socket closed as it was reused
 * was seen once while seeding); every body carries a client_message_id, so the second ask is the same turn.
 */
async function api(stack: Stack, token: string, path: string, body: unknown): Promise<unknown> {
  const post = () =>
    fetch(`${stack.url}/api/v1/chat${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const res = await post().catch(post);
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

interface Turn {
  conversation: { id: string };
  reply: { id: string };
}

async function seed(stack: Stack, token: string): Promise<string> {
  let conversationId: string | undefined;
  let last: Turn | undefined;
  for (let i = 0; i < TURNS; i++) {
    const body: Record<string, string> = { content: `!dev words=30\nquestion ${i}`, client_message_id: `seed-${i}` };
    if (conversationId) body.conversation_id = conversationId;
    last = (await api(stack, token, '/messages', body)) as Turn;
    conversationId = last.conversation.id;
  }
  if (!conversationId || !last) throw new Error('nothing seeded');
  await api(stack, token, `/conversations/${conversationId}/regenerate`, {
    message_id: last.reply.id,
    client_message_id: 'seed-regenerate',
  });
  return conversationId;
}

/**
 * Clicks the last reply's ‹ or › and waits, in the page, until the other version is in the DOM; ms. A string, not a
 * function: tsx names inner functions with a helper the page does not have.
 */
const SWITCH_IN_PAGE = `async (dir, deadline) => {
  const lastReply = () => {
    const all = document.querySelectorAll('article.message.assistant');
    return all[all.length - 1];
  };
  const before = lastReply();
  const beforeId = before && before.dataset.messageId;
  const button = before && before.querySelector('button[aria-label="' + dir + ' version of this reply"]');
  if (!button || button.disabled) throw new Error('no enabled ' + dir + ' button');
  const target = dir === 'Previous' ? '1/2' : '2/2';
  const shown = () => {
    const now = lastReply();
    const index = now && now.querySelector('.branch-index');
    return now && now.dataset.messageId !== beforeId && now.dataset.status === 'complete' &&
      index && index.textContent === target;
  };
  const started = performance.now();
  const done = new Promise((resolve, reject) => {
    const observer = new MutationObserver(() => {
      if (!shown()) return;
      observer.disconnect();
      clearTimeout(timer);
      resolve(performance.now() - started);
    });
    const timer = setTimeout(() => {
      observer.disconnect();
      reject(new Error(dir + ' version not shown within ' + deadline + ' ms'));
    }, deadline);
    observer.observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
  });
  button.click();
  return done;
}`;

function switchOnce(page: Page, direction: 'Previous' | 'Next'): Promise<number> {
  return page.evaluate(`(${SWITCH_IN_PAGE})(${JSON.stringify(direction)}, ${SWITCH_DEADLINE_MS})`) as Promise<number>;
}

/** Waits until the page has settled after a switch: the head it asked for is confirmed and the picker enabled. */
async function settle(page: Page): Promise<void> {
  await page
    .locator('article.message.assistant')
    .last()
    .locator('.branch-picker button:not([disabled])')
    .first()
    .waitFor({ timeout: SWITCH_DEADLINE_MS });
  await page.waitForTimeout(300);
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
const fmt = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `p50 ${pct(s, 0.5).toFixed(1)} ms, p90 ${pct(s, 0.9).toFixed(1)} ms, max ${(s.at(-1) ?? 0).toFixed(1)} ms (n=${s.length})`;
};

async function main(): Promise<void> {
  const stack = await startTestStack(GENEROUS_LIMITS);
  const browser = await launchBrowser();
  try {
    const user = `bench-branches-${Date.now().toString(36)}`;
    const token = await stack.devToken(user);
    const conversationId = await seed(stack, token);
    const context = await signedInContext(browser, stack, user);
    const page = await context.newPage();
    await page.goto(`/c/${conversationId}`);
    await page.locator('article.message.assistant .branch-index', { hasText: '2/2' }).last().waitFor();

    const warm: number[] = [];
    for (let i = 0; i < SWITCHES; i++) {
      warm.push(await switchOnce(page, i % 2 === 0 ? 'Previous' : 'Next'));
      await settle(page);
    }
    console.log(`switch of branch, both versions held by the page: ${fmt(warm)} (target p50 ≤ ${TARGET_P50_MS} ms)`);

    const cold: number[] = [];
    for (let i = 0; i < LOADS; i++) {
      await page.reload();
      const at = i % 2 === 0 ? '2/2' : '1/2';
      await page.locator('article.message.assistant .branch-index', { hasText: at }).last().waitFor();
      await page.locator('.connection[data-link="connected"]').waitFor();
      cold.push(await switchOnce(page, at === '2/2' ? 'Previous' : 'Next'));
      await settle(page);
    }
    console.log(`first switch after a fresh load (the other version read from the room): ${fmt(cold)}`);
    await context.close();
  } finally {
    await browser.close();
    await stack.stop();
  }
}

// A bench must end: a wait nobody answers (a page that never shows the other version) fails the run instead.
const deadline = setTimeout(() => {
  console.error(`bench:branches did not finish within ${RUN_DEADLINE_MS / 60_000} minutes`);
  process.exit(1);
}, RUN_DEADLINE_MS);
deadline.unref();
await main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
