/** Browser-test plumbing: Debian Chromium through playwright-core, and the local stack on a free port. */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, inject } from 'vitest';
import { makeTempDataDir, type Stack, signDevToken, startStack } from '../dev/stack';
import { GENEROUS_LIMITS, uniqueUser as uniqueUserFor } from '../dev/testing';

export const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

/** A browser of its own (playwright gives every launch a fresh temporary --user-data-dir). */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/** What a test needs of a stack to sign in to it and call it. */
export type TestStack = Pick<Stack, 'url' | 'vars' | 'devToken'>;

/** What e2e/global-setup.ts started once for every file: a stack (GENEROUS_LIMITS), Chromium, an image host. */
export interface SharedServices {
  stack: { url: string; vars: Record<string, string> };
  browserEndpoint: string;
  /** In the stack's ALLOWED_IMAGE_ORIGINS; `GET ${imageOrigin}/requests` lists the paths it was asked for. */
  imageOrigin: string;
}

/** The shared stack. Its users are the test's own (uniqueUser); it must not be stopped, restarted or reconfigured. */
export function sharedStack(): TestStack {
  const { stack } = inject('e2e');
  return { url: stack.url, vars: stack.vars, devToken: (user) => signDevToken(stack.vars, user) };
}

export const sharedImageOrigin = (): string => inject('e2e').imageOrigin;

/** The shared Chromium, connected for this file (closing the connection leaves the browser to the next file). */
export function connectBrowser(): Promise<Browser> {
  return chromium.connect(inject('e2e').browserEndpoint);
}

/**
 * The stack and the browser a test file uses: the shared ones, or with `vars` a stack of its own (started before
 * the file's first test, stopped after its last). Read them inside tests (`shared.stack`), once the file's tests run.
 */
export function sharedStackAndBrowser(vars?: Record<string, string>): {
  readonly stack: TestStack;
  readonly browser: Browser;
} {
  const shared = {} as { stack: TestStack; browser: Browser };
  let own: Stack | undefined;
  beforeAll(async () => {
    if (vars) own = await startTestStack(vars);
    shared.stack = own ?? sharedStack();
    shared.browser = await connectBrowser();
  });
  afterAll(async () => {
    await shared.browser?.close();
    await own?.stop();
  });
  return shared;
}

export async function startTestStack(vars: Record<string, string> = GENEROUS_LIMITS): Promise<Stack> {
  return startStack({ port: 0, dataDir: await makeTempDataDir('agent-chat-e2e-'), quiet: true, vars });
}

export { GENEROUS_LIMITS, uniqueUser } from '../dev/testing';

/** A context already signed in as `user` (the dev session the sign-in form would store). */
export async function signedInContext(
  browser: Browser,
  stack: Pick<Stack, 'url' | 'devToken'>,
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

/** The REST API as `user`, straight to the stack (setting up what the page then shows); throws on any non-2xx. */
export async function stackApi(stack: Pick<TestStack, 'url' | 'devToken'>, user: string) {
  const token = await stack.devToken(user);
  return async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${stack.url}/api/v1/chat${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return (res.status === 204 ? null : await res.json()) as T;
  };
}

/** A signed-in page on the empty chat, its composer ready. */
export async function openNewChat(
  shared: { readonly browser: Browser; readonly stack: TestStack },
  user = uniqueUserFor(),
): Promise<Page> {
  const context = await signedInContext(shared.browser, shared.stack, user);
  const page = await context.newPage();
  await page.goto('/');
  await page.getByLabel('Message', { exact: true }).waitFor();
  return page;
}
