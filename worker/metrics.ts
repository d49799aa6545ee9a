/**
 * Metrics to Workers Analytics Engine, when an environment binds a dataset as METRICS (docs/monitoring.md has the
 * binding and the SQL that reads it). Without the binding nothing is written and nothing else changes: the log
 * lines carry the same facts.
 *
 * One data point per event; blob1 names the event:
 *   reply   blobs [event, status, error code or ''], doubles [duration_ms, ttft_ms or -1, chunks, bytes, tokens or -1]
 *   socket  blobs [event, 'open' | 'close', close code or ''], doubles [+1 or -1, open sockets in the room, duration_ms]
 * Summing double1 of `socket` over the retention window (with _sample_interval) gives the sockets open now.
 */
declare global {
  namespace Cloudflare {
    interface Env {
      /** Optional Workers Analytics Engine dataset; see docs/monitoring.md. */
      METRICS?: AnalyticsEngineDataset;
    }
  }
}

export interface ReplyMetric {
  conversationId: string;
  status: string;
  code?: string | undefined;
  durationMs: number;
  ttftMs?: number | undefined;
  chunks: number;
  bytes: number;
  tokens?: number | undefined;
}

export interface SocketMetric {
  conversationId: string;
  event: 'open' | 'close';
  code?: number | undefined;
  open: number;
  durationMs?: number | undefined;
}

export class Metrics {
  constructor(private readonly dataset: AnalyticsEngineDataset | undefined) {}

  reply(m: ReplyMetric): void {
    this.write({
      indexes: [m.conversationId],
      blobs: ['reply', m.status, m.code ?? ''],
      doubles: [m.durationMs, m.ttftMs ?? -1, m.chunks, m.bytes, m.tokens ?? -1],
    });
  }

  socket(m: SocketMetric): void {
    this.write({
      indexes: [m.conversationId],
      blobs: ['socket', m.event, m.code === undefined ? '' : String(m.code)],
      doubles: [m.event === 'open' ? 1 : -1, m.open, m.durationMs ?? 0],
    });
  }

  private write(point: AnalyticsEngineDataPoint): void {
    try {
      this.dataset?.writeDataPoint(point);
    } catch {
      // A metric is never worth failing a reply or a socket for.
    }
  }
}
