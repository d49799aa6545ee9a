import { Hono } from 'hono';
import { apiDocs } from './api-docs';
import { type AuthVariables, devLogin } from './auth';
import { chat } from './chat';
import { loadConfig } from './config';
import { crossOrigin } from './cors';
import { ApiError, errorResponse } from './errors';
import { health } from './health';
import { log, setLogLevel } from './log';
import { page, setCommonHeaders } from './page';
import { shared } from './shared';
import { continueTrace } from './trace';
import { API_BASE } from './wire';

export { ConversationRoom } from './room/conversation-room';
export { UserQuota } from './room/user-quota';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

const app = new Hono<{ Bindings: Env; Variables: AuthVariables & { requestId: string; traceparent: string } }>();

/** Every response carries a request id and a traceparent, and every request is one JSON log line. */
app.use('*', async (c, next) => {
  const incoming = c.req.header('x-request-id');
  const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
  c.set('requestId', requestId);
  const trace = continueTrace(c.req.header('traceparent'));
  c.set('traceparent', trace.traceparent);
  const started = Date.now();
  try {
    setLogLevel(loadConfig(c.env).LOG_LEVEL);
  } catch {
    // A bad config is answered by the route that needs it, naming the setting.
  }
  await next();
  if (c.res.status !== 101) {
    // Responses passed on from a Durable Object have immutable headers.
    if (!trySetHeader(c.res, 'x-request-id', requestId)) {
      c.res = new Response(c.res.body, c.res);
      c.res.headers.set('x-request-id', requestId);
    }
    c.res.headers.set('traceparent', trace.traceparent);
    setCommonHeaders(c.res.headers);
    log(c.res.status >= 500 ? 'error' : 'info', 'request', {
      request_id: requestId,
      trace_id: trace.traceId,
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      duration_ms: Date.now() - started,
    });
  }
});

function trySetHeader(res: Response, name: string, value: string): boolean {
  try {
    res.headers.set(name, value);
    return true;
  } catch {
    return false;
  }
}

app.use(`${API_BASE}/*`, crossOrigin);
app.route('/', health);
app.route('/api/v1/dev', devLogin);
app.route(API_BASE, chat);
app.route('/api/v1/shared', shared);
app.route('/api/v1', apiDocs);
app.route('/', page);

app.notFound(() => new ApiError('not_found', 'no such route').toResponse());

app.onError((err, c) => errorResponse(err, { request_id: c.get('requestId') }));

export default app;
