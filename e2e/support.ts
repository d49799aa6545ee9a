/** Browser-test plumbing: Debian Chromium through playwright-core, and the local stack on a free port. */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { makeTempDataDir, type Stack, startStack } from '../dev/stack';

export const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    // playwright gives every launch a fresh temporary --user-data-dir.
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

/** Rate limits high enough that only the test meant to hit them does. */
export const GENEROUS_LIMITS = {
  RATE_LIMIT_USER_PER_MINUTE: '100000',
  RATE_LIMIT_USER_BURST: '100000',
  RATE_LIMIT_CONVERSATION_PER_MINUTE: '100000',
  RATE_LIMIT_CONVERSATION_BURST: '100000',
};

/**
 * The stack and the browser a test file shares: started before its first test, stopped after its last.
 * Read them inside tests (`shared.stack`), once the file's tests run.
 */
export function sharedStackAndBrowser(vars?: Record<string, string>): {
  readonly stack: Stack;
  readonly browser: Browser;
} {
  const shared = {} as { stack: Stack; browser: Browser };
  beforeAll(async () => {
    shared.stack = await startTestStack(vars);
    shared.browser = await launchBrowser();
  });
  afterAll(async () => {
    await shared.browser?.close();
    await shared.stack?.stop();
  });
  return shared;
}

export async function startTestStack(vars: Record<string, string> = GENEROUS_LIMITS): Promise<Stack> {
  return startStack({ port: 0, dataDir: await makeTempDataDir('agent-chat-e2e-'), quiet: true, vars });
}

export { uniqueUser } from '../dev/testing';

/** A context already signed in as `user` (the dev session the sign-in form would store). */
export async function signedInContext(
  browser: Browser,
  stack: Stack,
  user: string,
  options: { viewport?: { width: number; height: number }; colorScheme?: 'light' | 'dark' } = {},
): Promise<BrowserContext> {
  const token = await stack.devToken(user);
  const context = await browser.newContext({
    baseURL: stack.url,
    viewport: options.viewport ?? { width: 1200, height: 800 },
    colorScheme: options.colorScheme ?? 'light',
  });
  await context.addInitScript(
    ([key, value]) => {
      localStorage.setItem(key, value);
    },
    ['agent-chat.dev-session', JSON.stringify({ token, user })] as const,
  );
  return context;
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
}

/** Types a message into the composer and sends it with Enter. */
export async function send(page: Page, text: string): Promise<void> {
  const box = page.getByLabel('Message', { exact: true });
  await box.fill(text);
  await box.press('Enter');
}

export const lastReply = (page: Page) => page.locator('article.message.assistant').last();

/** The words of a `!dev words=N` reply, in order. */
export function words(text: string): string[] {
  return text.split(/\s+/).filter(Boolean);
}
