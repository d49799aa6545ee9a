import { exports } from 'cloudflare:workers';
import { type Schema, Validator } from '@cfworker/json-schema';
import { describe, expect, it } from 'vitest';
import app from './index';
import { client, eventually, ORIGIN, pgQuery, sseEvents, testEnv, tokenFor, uniqueUser } from './test-support';
import { API_BASE, MAX_CONTENT_CODE_POINTS } from './wire';

type Doc = {
  paths: Record<
    string,
    Record<string, { responses: Record<string, { $ref?: string; content?: Record<string, unknown> }> }>
  >;
  components: { schemas: Record<string, Schema>; responses: Record<string, { content: Record<string, unknown> }> };
};

const fetchDoc = async (name: string) => {
  const res = await exports.default.fetch(`${ORIGIN}/api/v1/${name}`);
  expect(res.status).toBe(200);
  return res.json();
};
const openapi = (await fetchDoc('openapi.json')) as Doc;
const asyncapi = (await fetchDoc('asyncapi.json')) as { components: { schemas: Record<string, Schema> } };

/** A validator for a component schema of a served document: its $refs resolve among that document's schemas. */
function validatorFor(doc: { components: { schemas: Record<string, Schema> } }, name: string): Validator {
  const base = 'https://agent-chat.test/doc.json';
  const validator = new Validator({ $ref: `${base}#/components/schemas/${name}` } as Schema, '2020-12', false);
  // Only the schemas: other parts of a document (an AsyncAPI parameter named `id`) would read as schema ids.
  validator.addSchema({ components: { schemas: doc.components.schemas } } as Schema, base);
  return validator;
}

/** (path, method, status) seen answered and checked against the document. */
const checked = new Set<string>();

/** The response must be documented for its route and status, and its body must match the documented schema. */
async function expectDocumented(method: string, path: string, res: Response): Promise<void> {
  const op = openapi.paths[path]?.[method];
  expect(op, `${method} ${path} is not in openapi.json`).toBeDefined();
  let documented = op?.responses[String(res.status)];
  expect(documented, `${method} ${path} answered ${res.status}, which is not documented`).toBeDefined();
  checked.add(`${method} ${path} ${res.status}`);
  if (documented?.$ref) documented = openapi.components.responses[documented.$ref.split('/').pop() ?? ''];
  const type = (res.headers.get('content-type') ?? '').split(';')[0] ?? '';
  if (!documented?.content) {
    expect(await res.text(), `${method} ${path} ${res.status} has no documented body`).toBe('');
    return;
  }
  expect(Object.keys(documented.content)).toContain(type);
  if (type === 'text/event-stream') return expectChunks(res);
  const schema = (documented.content['application/json'] as { schema: { $ref?: string } }).schema;
  const body = await res.json();
  if (!schema.$ref) return; // a whole document (openapi.json itself): checked by dev/api-docs.test.ts
  const result = validatorFor(openapi, schema.$ref.split('/').pop() ?? '').validate(body);
  expect(result.errors, `${method} ${path} ${res.status}: ${JSON.stringify(body)}`).toEqual([]);
}

/** Every data line of an SSE answer is a chunk as asyncapi.json describes it, then [DONE]. */
async function expectChunks(res: Response): Promise<void> {
  const chunk = validatorFor(asyncapi, 'UiMessageChunk');
  const data: string[] = [];
  for await (const event of sseEvents(res)) data.push(event.data);
  expect(data.at(-1)).toBe('[DONE]');
  for (const line of data.slice(0, -1)) expect(chunk.validate(JSON.parse(line)).errors, line).toEqual([]);
}

interface CallInit {
  id?: string;
  query?: string;
  body?: string;
  headers?: Record<string, string>;
}

const openApiPath = (honoPath: string) => honoPath.replace(/:(\w+)/g, '{$1}');

describe('the published API', () => {
  it('documents every route the app serves, and no route it does not serve', () => {
    const served = new Set(
      app.routes
        // Middleware, and the page's catch-all (static assets and the single-page app, not API).
        .filter((r) => r.method !== 'ALL' && r.path !== '/*')
        .map((r) => `${r.method.toLowerCase()} ${openApiPath(r.path)}`),
    );
    const documented = new Set(
      Object.entries(openapi.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`)),
    );
    expect([...served].sort()).toEqual([...documented].sort());
  });

  it('answers what the document says, route by route', async () => {
    const alice = client(uniqueUser('openapi'));
    /** Calls a documented path (`{id}` filled in, a query string after it) and checks the answer. */
    const call = async (method: string, path: string, init: CallInit = {}) => {
      const headers = new Headers(init.headers);
      if (!headers.has('authorization')) headers.set('authorization', `Bearer ${await alice.token}`);
      if (init.body) headers.set('content-type', 'application/json');
      const url = `${ORIGIN}${path.replace('{id}', init.id ?? '')}${init.query ?? ''}`;
      const res = await exports.default.fetch(new Request(url, { method, headers, body: init.body }));
      await expectDocumented(method.toLowerCase(), path, res);
    };
    const noAuth = { headers: { authorization: '' } };
    const conv = `${API_BASE}/conversations/{id}`;
    const missing = crypto.randomUUID();

    await call('GET', '/healthz');
    await call('GET', '/api/v1/openapi.json');
    await call('GET', '/api/v1/asyncapi.json');
    await call('GET', '/readyz');
    const notReady = { ...testEnv, AGENTCORE_URL: 'http://127.0.0.1:9/agent' };
    await expectDocumented('get', '/readyz', await app.fetch(new Request(`${ORIGIN}/readyz`), notReady));

    await call('POST', '/api/v1/dev/login', { body: JSON.stringify({ user: 'alice' }) });
    await call('POST', '/api/v1/dev/login', { body: JSON.stringify({ user: '' }) });
    const noDev = new Request(`${ORIGIN}/api/v1/dev/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'alice' }),
    });
    await expectDocumented('post', '/api/v1/dev/login', await app.fetch(noDev, { ...testEnv, DEV_AUTH: 'false' }));

    const created = await alice.createConversation('Documented');
    const id = created.id;
    await call('POST', `${API_BASE}/conversations`, { body: '{}' });
    await call('POST', `${API_BASE}/conversations`, { body: '{"nope":1}' });
    await call('POST', `${API_BASE}/conversations`, { body: '{}', ...noAuth });
    await call('GET', `${API_BASE}/conversations`);
    await call('GET', `${API_BASE}/conversations`, { query: '?limit=0' });
    await call('GET', `${API_BASE}/search`, { query: '?q=documented' });
    await call('GET', `${API_BASE}/search`, { query: '?q=-only' });
    await call('GET', conv, { id });
    await call('GET', conv, { id: missing });
    await call('GET', conv, { id: 'not-a-uuid' });
    await call('PATCH', conv, { id, body: JSON.stringify({ title: 'Renamed' }) });
    await call('PATCH', conv, { id, body: JSON.stringify({ title: ' ' }) });

    const send = (body: object, headers: Record<string, string> = {}) =>
      call('POST', `${API_BASE}/messages`, { body: JSON.stringify(body), headers });
    await send({ conversation_id: id, content: 'hello', client_message_id: 'm1' });
    await send({ conversation_id: id, content: 'other', client_message_id: 'm1' });
    await send({ conversation_id: id, content: 'x'.repeat(MAX_CONTENT_CODE_POINTS + 1) });
    await send({ conversation_id: id, content: 'streamed' }, { accept: 'text/event-stream' });
    await call('GET', `${conv}/messages`, { id });
    const lastReply = (await alice.history(id)).messages.at(-1)?.id ?? '';
    const branch = (path: string, messageId: string) =>
      call('POST', `${conv}/${path}`, { id, body: JSON.stringify({ message_id: messageId }) });
    await branch('regenerate', lastReply);
    await branch('regenerate', missing);
    await branch('head', lastReply);
    await branch('head', 'not-a-uuid');
    const feedback = (method: string, messageId: string, body?: object) =>
      call(method, `${API_BASE}/messages/{id}/feedback`, {
        id: messageId,
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
    // The route finds the message's conversation in Postgres, where the reply lands when it has ended.
    await eventually(
      () => pgQuery('select 1 from conversation_messages where id = $1', [lastReply]),
      (rows) => rows.length === 1,
    );
    await feedback('PUT', lastReply, { rating: 'up', comment: 'clear' });
    await feedback('PUT', lastReply, { rating: 'sideways' });
    await feedback('DELETE', lastReply);
    await feedback('DELETE', missing);
    await send({ conversation_id: id, content: '!dev approve=calc calc=6*7' });
    const asking = (await alice.history(id)).messages.at(-1)?.parts.find((p) => p.type === 'tool-calculator');
    const approvalId = String((asking?.approval as { id?: string } | undefined)?.id);
    const approvals = (body: object) => call('POST', `${conv}/approvals`, { id, body: JSON.stringify(body) });
    await approvals({ approval_id: approvalId, approved: true });
    await approvals({ approval_id: approvalId, approved: true });
    await approvals({ approval_id: 'approval-none', approved: true });
    await call('GET', `${conv}/export`, { id, query: '?format=json' });
    await call('GET', `${conv}/export`, { id, query: '?format=pdf' });
    await call('GET', `${conv}/messages`, { id, query: '?before_seq=2&after_seq=1' });

    await call('GET', `${conv}/stream`, { id });
    const slow = await alice.sendStreaming(id, '!dev words=40 delay_ms=20\nslow');
    const first = sseEvents(slow);
    await first.next();
    await call('GET', `${conv}/stream`, { id });
    await call('POST', `${conv}/stop`, { id });
    await first.return(undefined);

    await call('POST', `${API_BASE}/ws-ticket`, { body: JSON.stringify({ conversation_id: id }) });
    await call('POST', `${API_BASE}/ws-ticket`, { body: JSON.stringify({ conversation_id: 'x' }) });
    const upgrade = await exports.default.fetch(
      new Request(`${ORIGIN}${API_BASE}/conversations/${id}/ws`, {
        headers: { upgrade: 'websocket', authorization: `Bearer ${await tokenFor(alice.userId)}` },
      }),
    );
    upgrade.webSocket?.accept();
    upgrade.webSocket?.close(1000);
    expect(upgrade.status).toBe(101);
    checked.add(`get ${conv}/ws 101`);
    await call('GET', `${conv}/ws`, { id, headers: { upgrade: 'websocket', origin: 'https://evil.example' } });

    await call('POST', `${conv}/share`, { id });
    const link = (await alice.json<{ share_id: string }>('POST', `/conversations/${id}/share`)).share_id;
    const shared = (path: string, method = 'GET') =>
      exports.default.fetch(new Request(`${ORIGIN}${path.replace('{shareId}', link)}`, { method }));
    await expectDocumented('get', '/api/v1/shared/{shareId}', await shared('/api/v1/shared/{shareId}'));
    await expectDocumented('get', '/api/v1/shared/{shareId}', await shared('/api/v1/shared/{shareId}', 'POST'));
    const live = await shared('/api/v1/shared/{shareId}/stream');
    expect(live.status).toBe(200);
    expect(live.headers.get('content-type')).toBe('text/event-stream');
    await live.body?.cancel();
    checked.add('get /api/v1/shared/{shareId}/stream 200');
    await call('DELETE', `${conv}/share`, { id });
    await expectDocumented('get', '/api/v1/shared/{shareId}', await shared('/api/v1/shared/{shareId}'));

    await call('DELETE', conv, { id });
    await call('DELETE', conv, { id });

    // Every success answer the document promises was seen and matched.
    const promised = Object.entries(openapi.paths).flatMap(([path, ops]) =>
      Object.entries(ops).flatMap(([method, op]) =>
        Object.keys(op.responses)
          .filter((status) => Number(status) < 400)
          .map((status) => `${method} ${path} ${status}`),
      ),
    );
    expect(promised.filter((p) => !checked.has(p))).toEqual([]);
  });
});
