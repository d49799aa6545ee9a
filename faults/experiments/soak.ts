/**
 * Experiment 9: soak. Mixed traffic (JSON, SSE and WebSocket sends, history reads) at a steady rate for minutes;
 * memory (workerd's RSS) and send latency are sampled per window. Properties: the invariants hold at the end, and
 * neither memory nor latency grows: the last window is within bounds of the first.
 */
import { type Experiment, outcome, scaled, withLab } from '../experiment';
import { addVerdict, checkInvariants, Transcript } from '../invariants';
import { sleep } from '../lab';
import { CHANNELS, Conversation, percentile } from '../traffic';
import { fmtMemory, type WorkerdMemory, workerdMemory } from './load';

/**
 * Sends a conversation gets before its slot goes on in a new one. Steady traffic is many conversations of bounded
 * length, opened, used and left, not six that grow for ever: with six growing to ~4,700 messages each in 30
 * minutes, each room's database and every read of its whole history grew all through the run, and with them the
 * work the soak asked for. A room left goes idle and its memory is used again for others (600 rooms of one send
 * each: the Worker's anon memory 184 → 191 → 197 MiB after each 200, docs/RELIABILITY.md).
 */
const SENDS_PER_CONVERSATION = 60;

/** How long a run must be for its memory to be judged. */
const MEMORY_JUDGED_FROM_MS = 5 * 60_000;

interface Window {
  mem: WorkerdMemory;
  totalMs: number[];
}

export const soak: Experiment = {
  key: 'soak',
  title: '9 soak',
  profiles: ['full', 'soak'],
  async run(profile, log, labs) {
    // FAULTS_SOAK_MINUTES=n runs it for n minutes (e.g. to tell warm-up from a leak without the whole 30).
    const minutes = Number(process.env.FAULTS_SOAK_MINUTES);
    const durationMs =
      minutes > 0 ? minutes * 60_000 : scaled(profile, { short: 30_000, full: 120_000, soak: 30 * 60_000 });
    const windowMs = Math.max(10_000, durationMs / 12);
    const conversations = 6;
    const judged = durationMs >= MEMORY_JUDGED_FROM_MS ? 'memory and latency do not grow' : 'latency does not grow';
    const result = outcome(`${durationMs / 60_000} min of mixed traffic: ${judged}; invariants`);
    return withLab(
      () => labs.own(),
      result,
      async (lab) => {
        const user = await lab.user();
        const convs: Conversation[] = [];
        const open = async (name: string) => {
          const c = new Conversation(new Transcript(user, await user.conversation(name)));
          convs.push(c);
          return c;
        };
        const windows: Window[] = [];
        const started = Date.now();
        let current: Window = { mem: workerdMemory(lab), totalMs: [] };
        const sampler = setInterval(() => {
          windows.push(current);
          current = { mem: workerdMemory(lab), totalMs: [] };
        }, windowMs);
        await Promise.all(
          Array.from({ length: conversations }, async (_, i) => {
            let c = await open(`soak ${i}`);
            for (let n = 0; Date.now() - started < durationMs; n++) {
              if (n > 0 && n % SENDS_PER_CONVERSATION === 0) {
                c.close();
                c = await open(`soak ${i}.${n / SENDS_PER_CONVERSATION}`);
              }
              const channel = CHANNELS[(i + n) % CHANNELS.length] ?? 'json';
              try {
                const sent = await c.send(channel, `!dev words=20 delay_ms=10\nsoak ${n}`);
                current.totalMs.push(sent.totalMs);
                if (sent.status !== 'complete') result.failures.push(`${channel} send ${n}: ${sent.status}`);
                result.trials++;
                // A page of history, as a tab opening the conversation reads it.
                if (n % 5 === 0) {
                  const page = await c.t.user.call('GET', `/conversations/${c.t.conversationId}/messages?limit=50`);
                  if (page.status !== 200) result.failures.push(`history read ${n}: ${page.status}`);
                }
              } catch (err) {
                result.failures.push(`${channel} send ${n}: ${String(err)}`);
              }
              await sleep(250);
            }
          }),
        );
        clearInterval(sampler);
        windows.push(current);
        for (const c of convs) c.close();
        const full = windows.filter((w) => w.totalMs.length > 0);
        const first = full[1] ?? full[0];
        const last = full.at(-1);
        if (first && last) {
          const p50 = (w: Window) => percentile(w.totalMs, 50);
          result.figures.push(
            `${result.trials} sends to ${convs.length} conversations (${conversations} at a time, ${SENDS_PER_CONVERSATION} sends each) in ${full.length} windows of ${(windowMs / 1000).toFixed(0)} s: send→end p50 ${p50(first).toFixed(0)} ms first, ${p50(last).toFixed(0)} ms last`,
            `the Worker's workerd, RSS per window: ${full.map((w) => w.mem.worker.rss).join(' → ')} MiB`,
            `  of which its own (anon): ${full.map((w) => w.mem.worker.anon).join(' → ')} MiB; file pages: ${full.map((w) => w.mem.worker.file).join(' → ')} MiB`,
            `wrangler's proxy workerd, RSS: ${full.map((w) => w.mem.proxy.rss).join(' → ')} MiB`,
          );
          log(result.figures.join('; '));
          // Bounds loose enough for a machine shared with other work, tight enough to catch a leak or a slowdown.
          if (p50(last) > p50(first) * 2 + 50)
            result.failures.push(`latency grew: p50 ${p50(first).toFixed(0)} → ${p50(last).toFixed(0)} ms`);
          // A leak grows at the same rate all through; warm-up (V8's heap sizing, SQLite's caches filling as the
          // conversations grow) slows down. So the second half of the run must grow at most half as fast as the
          // first, or by less than 10 MiB a minute. The Worker's own (anon) memory, both workerd processes.
          const own = (w: Window) => w.mem.worker.anon + w.mem.proxy.anon;
          const mid = full[Math.floor(full.length / 2)] ?? last;
          const perMinute = (from: Window, to: Window, windows: number) =>
            ((own(to) - own(from)) / (windows * windowMs)) * 60_000;
          const half = Math.floor(full.length / 2);
          const early = perMinute(full[0] ?? first, mid, half);
          const late = perMinute(mid, last, full.length - 1 - half);
          result.figures.push(
            `own memory grew ${early.toFixed(1)} MiB/min in the first half, ${late.toFixed(1)} MiB/min in the second`,
          );
          // The Worker's first minutes are warm-up (about 160 MiB in two minutes, docs/RELIABILITY.md): a shorter
          // run has no second half to judge, only its latency and the invariants.
          if (durationMs < MEMORY_JUDGED_FROM_MS)
            result.figures.push(`memory not judged: a run under ${MEMORY_JUDGED_FROM_MS / 60_000} minutes is warm-up`);
          else if (late > 10 && late > early / 2)
            result.failures.push(
              `memory kept growing: ${early.toFixed(1)} MiB/min in the first half, ${late.toFixed(1)} MiB/min in the second (${own(full[0] ?? first)} → ${own(last)} MiB anon)`,
            );
        }
        // Idle: what stays once the traffic stops and the rooms have had time to go quiet.
        await sleep(30_000);
        const idle = workerdMemory(lab);
        result.figures.push(`30 s after the traffic stopped: ${fmtMemory(idle)}`);
        log(result.figures.at(-1) ?? '');
        addVerdict(
          result.verdict,
          await checkInvariants(
            lab,
            convs.map((c) => c.t),
          ),
        );
      },
    );
  },
};
