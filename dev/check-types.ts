/**
 * Is worker-configuration.d.ts still what `wrangler types` makes of wrangler.toml? (`--write`: make it so.)
 * Done in a scratch copy of the config: in the project itself wrangler would also type the secrets of the local
 * .dev.vars that `npm start` writes, which the committed file must not carry. Exits non-zero when out of date.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const write = process.argv.includes('--write');
const scratch = mkdtempSync(join(tmpdir(), 'agent-chat-types-'));
try {
  for (const file of ['wrangler.toml', 'worker-configuration.d.ts'])
    copyFileSync(join(root, file), join(scratch, file));
  symlinkSync(join(root, 'worker'), join(scratch, 'worker'));
  const wrangler = join(root, 'node_modules/wrangler/bin/wrangler.js');
  execFileSync(process.execPath, [wrangler, 'types', '--strict-vars=false', ...(write ? [] : ['--check'])], {
    cwd: scratch,
    stdio: 'inherit',
    env: {
      ...process.env,
      WRANGLER_SEND_METRICS: 'false',
      WRANGLER_SEND_ERROR_REPORTS: 'false',
      CLOUDFLARE_CF_FETCH_ENABLED: 'false',
      WRANGLER_HIDE_BANNER: 'true',
    },
  });
  if (write) copyFileSync(join(scratch, 'worker-configuration.d.ts'), join(root, 'worker-configuration.d.ts'));
} catch {
  console.error(
    write
      ? 'wrangler types failed'
      : 'worker-configuration.d.ts is out of date: run `npm run cf-typegen` and commit it.',
  );
  process.exitCode = 1;
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
