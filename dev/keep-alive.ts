import type { Server } from 'node:http';

/**
 * Makes a local HTTP server that workerd calls keep idle connections open longer than workerd's own pool does.
 *
 * Node closes a keep-alive connection after 5 s idle (server.keepAliveTimeout), and workerd's outbound pool keeps
 * one idle for about as long: when both ends let go at the same moment, workerd sends its next request on a
 * connection the server is closing and the fetch fails with "Network connection lost." Under load that happened
 * to many at once (a burst of requests every ~5 s: the outbox's flushes to the Neon proxy, creates in a load test),
 * and the Worker's own connection to the client was dropped with them ("other side closed"; through wrangler's
 * proxy, 503 "Your worker restarted mid-request"). With the server waiting longer, the client always closes first.
 */
export function keepConnectionsLongerThanClients(server: Server): void {
  server.keepAliveTimeout = 65_000;
  // Must exceed keepAliveTimeout, or Node times a slow next request's headers out first.
  server.headersTimeout = 66_000;
}
