/**
 * Experiments 1 and 2: Postgres stopped (the real server, SIGTERM and gone) while the chat is used over JSON, SSE and
 * WebSocket, and Postgres flapping (stopped and started every 2–5 s) under steady traffic. Properties: the chat keeps
 * answering, and once Postgres is back the outbox brings every row over: nothing lost, duplicated or reordered.
 */
import { type Experiment, outcome, scaled, withLab } from '../experiment';
import { addVerdict, checkInvariants, Transcript } from '../invariants';
import { type Lab, sleep } from '../lab';
import { CHANNELS, Conversation } from '../traffic';

async function openConversations(lab: Lab, n: number): Promise<Conversation[]> {
  const user = await lab.user();
  const out: Conversation[] = [];
  for (let i = 0; i < n; i++) out.push(new Conversation(new Transcript(user, await user.conversation(`pg ${i}`))));
  // Their rows are in Postgres before it goes: what follows is about messages, not about creating conversations.
  const ids = out.map((c) => c.t.conversationId);
  for (;;) {
    const rows = await lab.pg<{ n: string }>('select count(*) as n from conversation_states where id = any($1)', [ids]);
    if (Number(rows[0]?.n) === ids.length) return out;
    await sleep(100);
  }
}

interface Traffic {
  sent: number;
  complete: number;
  failures: string[];
}

/** Each conversation sends one message after another (channel by turn) until `until()` says stop. */
async function steadyTraffic(conversations: Conversation[], until: () => boolean, traffic: Traffic, pace = 0) {
  await Promise.all(
    conversations.map(async (c, i) => {
      let previous = '';
      for (let n = 0; until(); n++) {
        const channel = CHANNELS[(i + n) % CHANNELS.length] ?? 'json';
        try {
          const sent = await c.send(channel, `!dev words=5\n${channel} send ${n} while Postgres is unreliable`);
          traffic.sent++;
          if (sent.status === 'complete') traffic.complete++;
          else traffic.failures.push(`${channel} send ${n}: reply ${sent.status}`);
          previous = `${channel} ${sent.status} in ${Math.round(sent.totalMs)} ms`;
        } catch (err) {
          traffic.failures.push(`${channel} send ${n} in conversation ${i} (after ${previous}): ${String(err)}`);
          previous = `${channel} failed`;
        }
        if (pace) await sleep(pace);
      }
    }),
  );
}

export const postgresDown: Experiment = {
  key: 'pg-down',
  title: '1 Postgres down',
  async run(profile, log, labs) {
    const outageMs = scaled(profile, { short: 5_000, full: 60_000 });
    const conversations = scaled(profile, { short: 3, full: 20 });
    const sends = scaled(profile, { short: 12, full: 200 });
    const result = outcome(
      `Postgres stopped ${outageMs / 1000} s under JSON+SSE+WS sends: chat answers, outbox drains`,
    );
    return withLab(
      () => labs.borrow(),
      result,
      async (lab) => {
        const convs = await openConversations(lab, conversations);
        const traffic: Traffic = { sent: 0, complete: 0, failures: result.failures };
        await lab.stack.postgres.stop();
        const stoppedAt = Date.now();
        log(`Postgres stopped; ${sends} sends over ${conversations} conversations`);
        // The sends are spread over the outage: each conversation paces its share across it.
        const perConversation = Math.ceil(sends / conversations);
        const pace = Math.max(0, Math.floor(outageMs / perConversation) - 400);
        await steadyTraffic(convs, () => traffic.sent < sends && Date.now() - stoppedAt < outageMs * 2, traffic, pace);
        const duringOutage = traffic.complete;
        const sendsTookMs = Date.now() - stoppedAt;
        await sleep(Math.max(0, outageMs - sendsTookMs));
        await lab.stack.postgres.start();
        log(`Postgres started after ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s`);
        const v = await checkInvariants(
          lab,
          convs.map((c) => c.t),
          180_000,
        );
        addVerdict(result.verdict, v);
        for (const c of convs) c.close();
        result.trials = traffic.sent;
        result.figures.push(
          `${traffic.sent} sends during a ${outageMs / 1000} s outage, ${duringOutage} answered complete while Postgres was down`,
          `outbox drained ${v.messages} messages ${(v.settleMs / 1000).toFixed(1)} s after Postgres started`,
        );
      },
    );
  },
};

export const postgresFlapping: Experiment = {
  key: 'pg-flap',
  title: '2 Postgres flapping',
  async run(profile, log, labs) {
    const durationMs = scaled(profile, { short: 10_000, full: 120_000 });
    const conversations = scaled(profile, { short: 3, full: 10 });
    const result = outcome(`Postgres stopped/started every 2–5 s for ${durationMs / 1000} s under steady sends`);
    return withLab(
      () => labs.borrow(),
      result,
      async (lab) => {
        const convs = await openConversations(lab, conversations);
        const traffic: Traffic = { sent: 0, complete: 0, failures: result.failures };
        const started = Date.now();
        const running = () => Date.now() - started < durationMs;
        let flaps = 0;
        const flapper = (async () => {
          while (running()) {
            await lab.stack.postgres.stop();
            await sleep(2_000 + Math.random() * 3_000);
            await lab.stack.postgres.start();
            flaps++;
            await sleep(2_000 + Math.random() * 3_000);
          }
        })();
        await Promise.all([steadyTraffic(convs, running, traffic), flapper]);
        log(`${flaps} flaps, ${traffic.sent} sends`);
        const v = await checkInvariants(
          lab,
          convs.map((c) => c.t),
          180_000,
        );
        addVerdict(result.verdict, v);
        for (const c of convs) c.close();
        result.trials = traffic.sent;
        result.figures.push(
          `${flaps} stop/start cycles, ${traffic.sent} sends (${traffic.complete} complete); drained ${(v.settleMs / 1000).toFixed(1)} s after the last start`,
        );
      },
    );
  },
};
