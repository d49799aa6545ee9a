import { loadConfig } from '../config';

/**
 * Counts a room's storage rows and the requests every Durable Object receives, for the capacity bench
 * (STORAGE_METER=true; refused in every deployed environment by dev/deploy-check.ts).
 * SQL statements report their own rows (a cursor's rowsRead and rowsWritten, what Cloudflare bills); the key-value
 * calls are counted as billed for SQLite-backed objects: a row read per key got or listed, a row written per key put
 * or deleted. The room's storage is replaced by a counting view of it, so every part of the room is counted.
 */
export interface StorageRows {
  read: number;
  written: number;
}

const METER = Symbol('storage meter');

type Metered = DurableObjectStorage & { [METER]?: () => StorageRows };

function meterOn(env: object): boolean {
  try {
    return loadConfig(env).STORAGE_METER;
  } catch {
    // A bad config is reported by the first call that needs it.
    return false;
  }
}

/** Makes `ctx.storage` count its rows from now on, when the config says STORAGE_METER. */
export function meterStorage(ctx: DurableObjectState, env: object): void {
  if (!meterOn(env)) return;
  const storage = ctx.storage;
  const cursors: SqlStorageCursor<Record<string, SqlStorageValue>>[] = [];
  const kv = { read: 0, written: 0 };
  const keys = (k: string | string[]) => (Array.isArray(k) ? k.length : 1);
  const sql = new Proxy(storage.sql, {
    get(target, prop) {
      if (prop === 'exec') {
        return (query: string, ...bindings: unknown[]) => {
          const cursor = target.exec(query, ...bindings);
          cursors.push(cursor);
          return cursor;
        };
      }
      return bound(target, prop);
    },
  });
  const totals = (): StorageRows => {
    let read = kv.read;
    let written = kv.written;
    for (const c of cursors) {
      read += c.rowsRead;
      written += c.rowsWritten;
    }
    return { read, written };
  };
  const metered = new Proxy(storage, {
    get(target, prop) {
      if (prop === METER) return totals;
      if (prop === 'sql') return sql;
      if (prop === 'get') {
        return (k: string | string[], o?: DurableObjectGetOptions) => {
          kv.read += keys(k);
          return target.get(k as string, o);
        };
      }
      if (prop === 'put') {
        return (k: string | Record<string, unknown>, v?: unknown, o?: DurableObjectPutOptions) => {
          kv.written += typeof k === 'string' ? 1 : Object.keys(k).length;
          return typeof k === 'string' ? target.put(k, v, o) : target.put(k, v as DurableObjectPutOptions);
        };
      }
      if (prop === 'delete') {
        return (k: string | string[], o?: DurableObjectPutOptions) => {
          kv.written += keys(k);
          return target.delete(k as string, o);
        };
      }
      if (prop === 'list') {
        return async (o?: DurableObjectListOptions) => {
          const found = await target.list(o);
          kv.read += found.size;
          return found;
        };
      }
      return bound(target, prop);
    },
  });
  Object.defineProperty(ctx, 'storage', { value: metered, configurable: true });
}

/** The rows counted so far when the storage is metered; undefined when it is not. */
export function storageRows(storage: DurableObjectStorage): StorageRows | undefined {
  return (storage as Metered)[METER]?.();
}

function bound(target: object, prop: string | symbol): unknown {
  const value = Reflect.get(target, prop, target);
  return typeof value === 'function' ? value.bind(target) : value;
}

/**
 * The methods a Durable Object class is called by from outside: its public ones (RPC methods, and fetch, alarm
 * and the WebSocket events it inherits). A record over them lists every one, or the typecheck says which is missing.
 */
export type Entries<T> = {
  [K in keyof T]-?: [T[K]] extends [never]
    ? never
    : K extends string
      ? NonNullable<T[K]> extends (...args: never[]) => unknown
        ? K
        : never
      : never;
}[keyof T];

/** The entries every Durable Object class inherits (fetch, alarm, the WebSocket events, connect). */
export const INHERITED_ENTRIES = {
  fetch: true,
  connect: true,
  alarm: true,
  webSocketMessage: true,
  webSocketClose: true,
  webSocketError: true,
} as const;

/** Requests received, by `Class.method`, by every metered object of this isolate (locally, all of the Worker's). */
const received: Record<string, number> = {};

/**
 * Counts every call into `cls`'s `entries` from now on, when the config says STORAGE_METER: each is one Durable
 * Object request as billed (an incoming WebSocket message is billed at 20:1; the counts do not apply the ratio).
 * Wraps the class's own methods once, in the first object constructed; none of them calls another.
 */
export function meterRequests<T extends object>(
  label: string,
  cls: abstract new (...args: never[]) => T,
  entries: Record<Entries<T>, true>,
  env: object,
): void {
  if (!meterOn(env)) return;
  const proto = cls.prototype as Record<string | symbol, unknown>;
  if (Object.hasOwn(proto, METER)) return;
  Object.defineProperty(proto, METER, { value: true });
  for (const name of Object.keys(entries)) {
    const original = proto[name];
    if (typeof original !== 'function') continue;
    const key = `${label}.${name}`;
    Object.defineProperty(proto, name, {
      configurable: true,
      writable: true,
      value(this: T, ...args: unknown[]): unknown {
        received[key] = (received[key] ?? 0) + 1;
        return original.apply(this, args);
      },
    });
  }
}

/** The requests counted so far in this isolate, by `Class.method`; empty when nothing is metered. */
export function requestCounts(): Record<string, number> {
  return { ...received };
}
