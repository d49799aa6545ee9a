/**
 * CPU time of local processes, read from /proc (Linux), for bench/capacity.ts: which process listens on a port,
 * and the user + system time a process and its children have used (every thread, the live children's and the
 * children it has reaped).
 */
import { execFileSync } from 'node:child_process';
import { readdir, readFile, readlink } from 'node:fs/promises';

const TICKS_PER_S = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** The process that holds a listening TCP socket on `port` (on any address), among those this user can see. */
export async function listeningPid(port: number): Promise<number> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(table, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is HEX_IP:HEX_PORT; st 0A is LISTEN; the inode is the 10th field.
      if (f[1]?.endsWith(`:${hexPort}`) && f[3] === '0A' && f[9]) inodes.add(`socket:[${f[9]}]`);
    }
  }
  if (inodes.size === 0) throw new Error(`nothing listens on port ${port}`);
  for (const pid of await pids()) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      if (inodes.has(target)) return pid;
    }
  }
  throw new Error(`no process of this user holds the socket listening on port ${port}`);
}

/** CPU milliseconds (user + system) of `root` and every process below it, reaped children included. */
export async function treeCpuMs(root: number): Promise<number> {
  const { user, system } = await treeCpu(root);
  return user + system;
}

/** User and system (kernel) CPU milliseconds of `root` and every process below it, reaped children included. */
export async function treeCpu(root: number): Promise<{ user: number; system: number }> {
  const stats = new Map<number, { ppid: number; user: number; system: number }>();
  for (const pid of await pids()) {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    // The command name is in parentheses and may hold spaces: fields are counted from after its ')'.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    if (rest.length < 15) continue;
    // Fields 4, 14–17 of proc(5): ppid, utime, stime, cutime, cstime (rest[0] is field 3).
    const user = Number(rest[11]) + Number(rest[13]);
    const system = Number(rest[12]) + Number(rest[14]);
    stats.set(pid, { ppid: Number(rest[1]), user, system });
  }
  if (!stats.has(root)) throw new Error(`process ${root} is gone`);
  let user = 0;
  let system = 0;
  for (const [pid, s] of stats) {
    if (!descends(pid, root, stats)) continue;
    user += s.user;
    system += s.system;
  }
  return { user: (user * 1000) / TICKS_PER_S, system: (system * 1000) / TICKS_PER_S };
}

function descends(pid: number, root: number, stats: Map<number, { ppid: number }>): boolean {
  for (let p: number | undefined = pid, hops = 0; p !== undefined && hops < 64; p = stats.get(p)?.ppid, hops++) {
    if (p === root) return true;
  }
  return false;
}

async function pids(): Promise<number[]> {
  return (await readdir('/proc')).filter((n) => /^\d+$/.test(n)).map(Number);
}

/** The load averages over 1, 5 and 15 minutes, as `uptime` prints them. */
export async function loadAverage(): Promise<string> {
  return (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
}
