/**
 * The embedded chat's budget, printed: the packages' ESM size (gzip), the initial JS of the example dashboard's
 * chat page before Markdown loads, and the time from a host route change to an interactive pane showing 50 messages.
 * Run: npx tsx bench/embed.ts   (packs the packages and builds examples/dashboard like `npm run dashboard`)
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { GENEROUS_LIMITS, launchBrowser, uniqueUser } from '../e2e/support';
import { startDashboard } from '../examples/dashboard/start';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const INITIAL_BUDGET_KB = 120;
const ROUTE_BUDGET_MS = 300;
const RUNS = 15;

const gzipKb = async (path: string) => gzipSync(await readFile(path), { level: 9 }).length / 1024;
const kb = (n: number) => `${n.toFixed(1)} KB`;

async function packageSizes(): Promise<void> {
  for (const name of ['client', 'react']) {
    const dist = join(ROOT, 'node_modules', '..', 'examples', 'dashboard', 'node_modules', '@agent-chat', name, 'dist');
    const files = (await readdir(dist)).filter((f) => f.endsWith('.js') || f.endsWith('.css'));
    const sizes = await Promise.all(files.map(async (f) => `${f} ${kb(await gzipKb(join(dist, f)))}`));
    console.log(`@agent-chat/${name} (ESM, gzip, dependencies not included): ${sizes.join(', ')}`);
  }
}

/** Scripts the host's page fetches before it runs: the entry and its modulepreloads (Markdown is a later chunk). */
async function initialJs(): Promise<number> {
  const dist = join(ROOT, 'examples', 'dashboard', 'dist');
  const html = await readFile(join(dist, 'index.html'), 'utf8');
  const files = [...html.matchAll(/<(?:script[^>]+src|link[^>]+rel="modulepreload"[^>]+href)="\/([^"]+\.js)"/g)].map(
    (m) => m[1] ?? '',
  );
  let total = 0;
  for (const f of files) total += await gzipKb(join(dist, f));
  return total;
}

const dashboard = await startDashboard({ quiet: true, ttlSeconds: 600, vars: GENEROUS_LIMITS });
try {
  await packageSizes();
  const initial = await initialJs();
  console.log(
    `dashboard initial JS (host + React + the chat, before Markdown): ${kb(initial)} gzip (budget ${INITIAL_BUDGET_KB} KB, ${(initial / INITIAL_BUDGET_KB).toFixed(2)}x)`,
  );

  const user = uniqueUser('bench');
  const { token } = (await (
    await fetch(`${dashboard.auth.url}/token`, { method: 'POST', body: JSON.stringify({ user }) })
  ).json()) as { token: string };
  const call = async (path: string, body: unknown) =>
    (await (
      await fetch(`${dashboard.stack.url}/api/v1/chat${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
    ).json()) as { id: string };
  const { id } = await call('/conversations', {});
  for (let i = 0; i < 25; i++)
    await call('/messages', { conversation_id: id, content: `!dev words=12\nquestion ${i}` });

  const browser = await launchBrowser();
  const page = await (await browser.newContext({ baseURL: dashboard.url })).newPage();
  await page.goto('/');
  await page.getByLabel('Name').fill(user);
  await page.getByRole('button', { name: 'Sign in to the dashboard' }).click();
  await page.getByLabel('Message', { exact: true }).waitFor();
  const times: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    await page.evaluate("history.pushState(null, '', '/'); dispatchEvent(new PopStateEvent('popstate'))");
    await page.getByRole('heading', { name: /^Welcome/ }).waitFor();
    // From the route change to a pane that shows the 50 messages and takes typing.
    // A string, not a function: tsx would wrap named functions in a helper the page does not have.
    const ms = (await page.evaluate(`new Promise((resolve) => {
      const started = performance.now();
      history.pushState(null, '', '/chat/${id}');
      dispatchEvent(new PopStateEvent('popstate'));
      const check = () => {
        const box = document.querySelector('.agent-chat textarea');
        const shown = document.querySelectorAll('.agent-chat article.message').length;
        if (box && !box.disabled && shown >= 50) resolve(performance.now() - started);
        else if (performance.now() - started > 20000) resolve('stuck: ' + shown + ' messages, ' + location.pathname);
        else requestAnimationFrame(check);
      };
      check();
    })`)) as number | string;
    if (typeof ms === 'string') throw new Error(ms);
    times.push(ms);
  }
  times.sort((a, b) => a - b);
  const p50 = times[Math.floor(times.length / 2)] ?? 0;
  console.log(
    `host route change → interactive pane with 50 messages: p50 ${p50.toFixed(0)} ms, max ${(times.at(-1) ?? 0).toFixed(0)} ms over ${RUNS} runs (budget ${ROUTE_BUDGET_MS} ms, ${(p50 / ROUTE_BUDGET_MS).toFixed(2)}x)`,
  );
  await browser.close();
} finally {
  await dashboard.stop();
}
