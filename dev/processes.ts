import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Every live process below `root` (children, grandchildren…), read from /proc. Linux only (tests). */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!pid) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // Field 4 (ppid) follows the command name, which is in parentheses and may contain spaces.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  }
  const found: number[] = [];
  const walk = (pid: number) => {
    for (const child of children.get(pid) ?? []) {
      found.push(child);
      walk(child);
    }
  };
  walk(root);
  return found;
}

/** The ones still running (a zombie counts as gone: it has exited, only its entry is left). */
export function alive(pids: number[]): number[] {
  return pids.filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
    } catch {
      return false;
    }
  });
}

export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return '';
  }
}

/**
 * Stops `pid` (or its process group) once this Node process is gone, however it went: a test runner killed
 * with SIGKILL must not leave a Postgres or a workerd behind. Returns a function that cancels the watch.
 */
export function stopWhenOrphaned(pid: number, opts: { group?: boolean; signal?: NodeJS.Signals } = {}): () => void {
  const target = opts.group ? `-${pid}` : String(pid);
  const signal = (opts.signal ?? 'SIGTERM').replace(/^SIG/, '');
  const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -s ${signal} -- ${target} 2>/dev/null`;
  const watchdog = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
  watchdog.unref();
  return () => {
    // Its group, so the `sleep` it is waiting on goes too.
    try {
      if (watchdog.exitCode === null && watchdog.pid) process.kill(-watchdog.pid, 'SIGKILL');
    } catch {
      // ESRCH: it had just finished.
    }
  };
}
