/**
 * Vitest global setup of the browser tests: one stack, one Chromium and one image host for every file that has no
 * settings of its own, started once instead of once a file. Files reach them through `inject('e2e')` (support.ts).
 */
import { createServer, type Server } from 'node:http';
import { chromium } from 'playwright-core';
import type { TestProject } from 'vitest/node';
import { makeTempDataDir, startStack } from '../dev/stack';
import { CHROMIUM, CHROMIUM_ARGS, GENEROUS_LIMITS, type SharedServices } from './support';

declare module 'vitest' {
  export interface ProvidedContext {
    e2e: SharedServices;
  }
}

/** A 1×1 transparent PNG. */
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=',
  'base64',
);

/**
 * The origin the stack lets agent images load from (ALLOWED_IMAGE_ORIGINS), on its own port: a PNG for any path,
 * and `GET /requests` lists the paths the browser asked for, so a test sees an image really was fetched.
 */
async function startImageHost(): Promise<{ origin: string; close(): Promise<void> }> {
  const asked: string[] = [];
  const server: Server = createServer((req, res) => {
    if (req.url === '/requests') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(asked));
      return;
    }
    asked.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'image/png', 'access-control-allow-origin': '*' }).end(PNG);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const closers: Array<() => Promise<void>> = [];
  const teardown = async () => {
    for (const close of closers.splice(0).reverse()) await close().catch((err: unknown) => console.error(err));
  };
  try {
    const images = await startImageHost();
    closers.push(() => images.close());
    const stack = await startStack({
      port: 0,
      dataDir: await makeTempDataDir('agent-chat-e2e-'),
      quiet: true,
      vars: { ...GENEROUS_LIMITS, ALLOWED_IMAGE_ORIGINS: images.origin },
    });
    closers.push(() => stack.stop());
    const browser = await chromium.launchServer({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    closers.push(() => browser.close());
    project.provide('e2e', {
      stack: { url: stack.url, vars: stack.vars },
      browserEndpoint: browser.wsEndpoint(),
      imageOrigin: images.origin,
    });
  } catch (err) {
    await teardown();
    throw err;
  }
  return teardown;
}
