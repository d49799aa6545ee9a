export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** One JSON line per event, so Workers Logs and `wrangler tail` can filter on fields. */
export function log(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
  const line = JSON.stringify({ level, msg, time: new Date().toISOString(), ...fields });
  if (level === 'error') console.error(line);
  else if (level === 'warn') console.warn(line);
  else console.log(line);
}
