import { emptyVerdict, type Verdict } from './invariants';
import type { Lab, Labs, Lease } from './lab';

export type Profile = 'short' | 'full' | 'soak';

/** A trial count or duration per profile: a few in CI, the figures with --full. */
export interface Scale<T> {
  short: T;
  full: T;
  soak?: T;
}

export function scaled<T>(profile: Profile, scale: Scale<T>): T {
  return profile === 'soak' ? (scale.soak ?? scale.full) : scale[profile];
}

export interface Outcome {
  trials: number;
  /** What was checked, in a few words for the table. */
  checked: string;
  verdict: Verdict;
  /** Experiment-specific failures (a refused case accepted, a reply that did not end as expected …). */
  failures: string[];
  /** Figures worth printing under the table (latencies, drain time, memory). */
  figures: string[];
}

export interface Experiment {
  key: string;
  title: string;
  /** The profiles that run it when no experiment is named (all by default). */
  profiles?: Profile[];
  run(profile: Profile, log: (line: string) => void, labs: Labs): Promise<Outcome>;
}

export function outcome(checked: string): Outcome {
  return { trials: 0, checked, verdict: emptyVerdict(), failures: [], figures: [] };
}

/**
 * Runs `work` on a lab (the shared one, or one of its own) and adds the lab's findings while it had it: 5xx seen,
 * processes left behind.
 */
export async function withLab(
  lease: () => Promise<Lease>,
  result: Outcome,
  work: (lab: Lab) => Promise<void>,
): Promise<Outcome> {
  const { lab, release } = await lease();
  const from = lab.serverErrors.length;
  try {
    await work(lab);
  } catch (err) {
    const cause =
      err instanceof Error && err.cause ? `\n    cause: ${String((err.cause as Error).stack ?? err.cause)}` : '';
    result.failures.push(`aborted: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}${cause}`);
  } finally {
    const leftovers = await release();
    result.failures.push(...leftovers.map((l) => `left behind: ${l}`));
    const errors = lab.serverErrors.slice(from);
    result.failures.push(...errors.slice(0, 20).map((e) => `5xx: ${e}`));
    fiveXX.set(result, (fiveXX.get(result) ?? 0) + errors.length);
  }
  return result;
}

/** 5xx count per outcome, kept apart so experiments need not copy it. */
export const fiveXX = new WeakMap<Outcome, number>();
