import type { IncomingMessage, ServerResponse } from 'node:http';
import pg from 'pg';

/**
 * Neon's HTTP query endpoint (what `neon()` from @neondatabase/serverless POSTs to), served locally against the
 * embedded PostgreSQL: Neon's own proxy, which serves it in the cloud, does not run here. The protocol is the
 * driver's: a JSON body `{query, params}` or `{queries: [...]}` (a batch, run as one transaction), the connection
 * string in `Neon-Connection-String`, and results as raw text in array mode, which the driver parses itself.
 *
 * Like Neon's proxy it keeps a small pool of connections per connection string, so a query costs no handshake.
 */
export function neonHttpEndpoint(opts: { postgresPort: number; maxConnections?: number }) {
  const pools = new Map<string, pg.Pool>();
  /** What was asked of it: HTTP requests, statements (a batch's each, not its begin/commit) and bytes both ways. */
  const counts: NeonHttpCounts = { requests: 0, statements: 0, bytesIn: 0, bytesOut: 0 };

  function poolFor(connectionString: string): pg.Pool {
    let pool = pools.get(connectionString);
    if (!pool) {
      pool = new pg.Pool({ connectionString, max: opts.maxConnections ?? 10, idleTimeoutMillis: 30_000 });
      // A connection lost while idle (Postgres restarted) is dropped by the pool; the next query opens another.
      pool.on('error', () => {});
      pools.set(connectionString, pool);
    }
    return pool;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const connectionString = header(req, 'neon-connection-string');
    if (!connectionString || !isLocalPostgres(connectionString, opts.postgresPort)) {
      return reply(res, 403, { message: 'only the local PostgreSQL is served' });
    }
    let body: { query?: string; params?: unknown[]; queries?: { query: string; params: unknown[] }[] };
    try {
      const text = await readBody(req);
      counts.requests++;
      counts.bytesIn += Buffer.byteLength(text);
      body = JSON.parse(text);
      counts.statements += body.queries?.length ?? 1;
    } catch {
      return reply(res, 400, { message: 'the body is not JSON' });
    }
    let client: pg.PoolClient;
    try {
      client = await poolFor(connectionString).connect();
    } catch (err) {
      return reply(res, 503, { message: `Postgres is unreachable: ${String(err)}` });
    }
    let broken = false;
    // A checked-out client has no pool listener: a connection reset between a batch's statements (Postgres stopped
    // by the fault suite) was an unhandled 'error' event that ended the whole process.
    const lost = () => {
      broken = true;
    };
    client.on('error', lost);
    try {
      if (body.queries) {
        const isolation = header(req, 'neon-batch-isolation-level');
        const readOnly = header(req, 'neon-batch-read-only') === 'true';
        await client.query(
          `begin${isolation ? ` isolation level ${isolationSql(isolation)}` : ''}${readOnly ? ' read only' : ''}`,
        );
        try {
          const results = [];
          for (const q of body.queries) results.push(asNeon(await run(client, q.query, q.params)));
          await client.query('commit');
          return reply(res, 200, { results });
        } catch (err) {
          await client.query('rollback').catch(() => undefined);
          throw err;
        }
      }
      return reply(res, 200, asNeon(await run(client, body.query ?? '', body.params ?? [])));
    } catch (err) {
      const fields = err as Record<string, unknown>;
      // An error with a SQLSTATE came from Postgres and is the caller's (400, like Neon); anything else is ours.
      if (typeof fields.code === 'string' && /^[0-9A-Z]{5}$/.test(fields.code)) {
        return reply(res, 400, { ...pick(fields), message: String(fields.message) });
      }
      broken = true;
      return reply(res, 503, { message: `Postgres failed: ${String(err)}` });
    } finally {
      client.off('error', lost);
      client.release(broken);
    }
  }

  return {
    counts: (): NeonHttpCounts => ({ ...counts }),
    handle(req: IncomingMessage, res: ServerResponse): void {
      const end = res.end.bind(res);
      res.end = ((chunk?: unknown, ...rest: unknown[]) => {
        if (typeof chunk === 'string' || Buffer.isBuffer(chunk)) counts.bytesOut += Buffer.byteLength(chunk);
        return (end as (...a: unknown[]) => ServerResponse)(chunk, ...rest);
      }) as typeof res.end;
      if (req.headers.origin !== undefined) {
        reply(res, 403, { message: 'browser origins are refused' });
        return;
      }
      handle(req, res).catch((err: unknown) => reply(res, 500, { message: String(err) }));
    },
    async close(): Promise<void> {
      await Promise.all([...pools.values()].map((p) => p.end().catch(() => undefined)));
      pools.clear();
    },
  };
}

export interface NeonHttpCounts {
  requests: number;
  statements: number;
  bytesIn: number;
  bytesOut: number;
}

/**
 * Raw text for every column, rows as arrays: the driver always asks for that (Neon-Raw-Text-Output,
 * Neon-Array-Mode) and parses the values itself with the type ids it is sent.
 */
const RAW = { getTypeParser: () => (value: string) => value };

function run(client: pg.PoolClient, text: string, values: unknown[]) {
  return client.query({ text, values, types: RAW, rowMode: 'array' });
}

function asNeon(result: pg.QueryResult) {
  return {
    command: result.command,
    rowCount: result.rowCount,
    rows: result.rows,
    fields: result.fields,
    rowAsArray: true,
  };
}

const ERROR_FIELDS = ['severity', 'code', 'detail', 'hint', 'position', 'schema', 'table', 'column', 'constraint'];

function pick(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(ERROR_FIELDS.filter((k) => fields[k] !== undefined).map((k) => [k, fields[k]]));
}

function isolationSql(level: string): string {
  const known: Record<string, string> = {
    ReadUncommitted: 'read uncommitted',
    ReadCommitted: 'read committed',
    RepeatableRead: 'repeatable read',
    Serializable: 'serializable',
  };
  const sql = known[level];
  if (!sql) throw new Error(`unknown isolation level ${level}`);
  return sql;
}

function isLocalPostgres(connectionString: string, postgresPort: number): boolean {
  try {
    const url = new URL(connectionString);
    return (url.hostname === '127.0.0.1' || url.hostname === 'localhost') && url.port === String(postgresPort);
  } catch {
    return false;
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
