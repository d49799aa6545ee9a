/**
 * The room's one alarm, shared by everything that needs the room woken: the outbox's retries, the socket sweep,
 * a reply's heartbeat and a delete still owed. Each asks for a time; the alarm goes off at the earliest asked.
 */
export async function armAlarm(storage: DurableObjectStorage, inMs: number): Promise<void> {
  const at = Date.now() + inMs;
  const current = await storage.getAlarm();
  if (current === null || current > at) await storage.setAlarm(at);
}
