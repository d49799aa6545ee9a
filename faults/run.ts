/**
 * The fault, fuzz and load suite (issue 15): each experiment breaks something real on a whole local stack
 * (dev/stack.ts), checks the invariants on the API and on the Postgres rows, and the run prints one table and its
 * total time. The experiments that need no settings of their own share one stack, one after another (faults/lab.ts
 * Labs); the agent faults (short agent timeouts), load and soak (the timing agent; memory) start their own.
 *
 *   npm run test:faults                     short profile (a few trials each; what CI runs)
 *   npm run test:faults -- --full           the issue's trial counts
 *   npm run test:faults -- --soak           the 30-minute soak alone
 *   npm run test:faults -- fuzz auth        some experiments (keys: see EXPERIMENTS)
 * Exits 1 when any invariant or check failed, after printing what failed.
 */
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { type Experiment, fiveXX, type Outcome, type Profile } from './experiment';
import { agentFaults } from './experiments/agent-faults';
import { authMatrix } from './experiments/auth';
import { fuzz } from './experiments/fuzz';
import { load } from './experiments/load';
import { postgresDown, postgresFlapping } from './experiments/postgres';
import { restart } from './experiments/restart';
import { resume } from './experiments/resume';
import { soak } from './experiments/soak';
import { Labs } from './lab';

/** In this order: those on the shared lab first, then those that start their own (which stops the shared one). */
const EXPERIMENTS: Experiment[] = [
  fuzz,
  authMatrix,
  resume,
  postgresDown,
  postgresFlapping,
  restart,
  agentFaults,
  load,
  soak,
];

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const profile: Profile = args.includes('--soak') ? 'soak' : args.includes('--full') ? 'full' : 'short';
  const wanted = args.filter((a) => !a.startsWith('--'));
  const unknown = wanted.filter((w) => !EXPERIMENTS.some((e) => e.key === w));
  if (unknown.length) {
    console.error(`unknown experiment(s): ${unknown.join(', ')}; known: ${EXPERIMENTS.map((e) => e.key).join(', ')}`);
    process.exit(2);
  }
  const chosen = EXPERIMENTS.filter((e) =>
    wanted.length
      ? wanted.includes(e.key)
      : profile === 'soak'
        ? e.key === 'soak'
        : (e.profiles ?? ['short', 'full']).includes(profile),
  );
  console.log(
    `faults: ${profile} profile, ${chosen.length} experiment(s); ${cpus()[0]?.model ?? '?'} ×${availableParallelism()}, ` +
      `${Math.round(totalmem() / 2 ** 30)} GiB, load ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
  );
  const suiteStarted = Date.now();
  const labs = new Labs();
  const rows: Array<{ e: Experiment; o: Outcome; ms: number }> = [];
  try {
    for (const e of chosen) {
      const started = Date.now();
      const log = (line: string) => console.log(`  [${e.key}] ${line}`);
      log('starting');
      const o = await e.run(profile, log, labs);
      const ms = Date.now() - started;
      rows.push({ e, o, ms });
      log(`${failuresOf(o).length ? 'FAILED' : 'passed'} in ${(ms / 1000).toFixed(1)} s`);
    }
  } finally {
    await labs.stopShared();
  }
  printTable(rows);
  const failed = rows.filter((r) => failuresOf(r.o).length > 0);
  for (const { e, o } of failed) {
    console.log(`\n${e.title}: ${failuresOf(o).length} failure(s)`);
    for (const f of failuresOf(o).slice(0, 30)) console.log(`  - ${clip(f)}`);
  }
  for (const l of labs.leftBehind) console.log(`\n${l}`);
  const startSeconds = labs.starts.reduce((a, b) => a + b, 0);
  console.log(
    `\n${labs.starts.length} stack(s) started, ${startSeconds.toFixed(1)} s in all (${labs.starts.map((s) => s.toFixed(1)).join(', ')} s)`,
  );
  console.log(
    `\ntotal ${((Date.now() - suiteStarted) / 1000).toFixed(1)} s; load average at the end: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  process.exit(failed.length || labs.leftBehind.length ? 1 : 0);
}

/** Counter-examples can be 100 KiB of one character: print their head and tail. */
function clip(text: string, max = 700): string {
  return text.length <= max
    ? text
    : `${text.slice(0, max / 2)} … (${text.length} characters) … ${text.slice(-max / 2)}`;
}

function failuresOf(o: Outcome): string[] {
  return [...o.failures, ...o.verdict.failures];
}

function printTable(rows: Array<{ e: Experiment; o: Outcome; ms: number }>): void {
  const header = ['experiment', 'trials', 'checked', 'lost', 'duplicated', 'out of order', '5xx', 'time', 'result'];
  const body = rows.map(({ e, o, ms }) => [
    e.title,
    String(o.trials),
    o.checked,
    String(o.verdict.lost),
    String(o.verdict.duplicated),
    String(o.verdict.outOfOrder),
    String(fiveXX.get(o) ?? 0),
    `${(ms / 1000).toFixed(1)} s`,
    failuresOf(o).length ? `FAIL (${failuresOf(o).length})` : 'pass',
  ]);
  const lines = [header, header.map(() => '---'), ...body].map((cells) => `| ${cells.join(' | ')} |`);
  console.log(`\n${lines.join('\n')}`);
  for (const { e, o } of rows) {
    if (o.figures.length) console.log(`\n${e.title}:\n${o.figures.map((f) => `  ${f}`).join('\n')}`);
  }
}

await main();
