export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
let threshold: LogLevel = 'info';

/** Set from the parsed config (LOG_LEVEL) by the edge and by each Durable Object. */
export function setLogLevel(level: LogLevel): void {
  threshold = level;
}

/** One JSON line per event, so Workers Logs and `wrangler tail` can filter on fields. */
export function log(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
  if (RANK[level] < RANK[threshold]) return;
  const line = JSON.stringify({ level, msg, time: new Date().toISOString(), ...fields });
  if (level === 'error') console.error(line);
  else if (level === 'warn') console.warn(line);
  else console.log(line);
}
