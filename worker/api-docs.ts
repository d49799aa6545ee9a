import { Hono } from 'hono';
import { asyncApiDocument } from './asyncapi';
import { openApiDocument } from './openapi';

const CACHE = { 'cache-control': 'public, max-age=300' };

/** The published API, mounted at /api/v1 without auth: the OpenAPI (REST) and AsyncAPI (WebSocket, SSE) documents. */
export const apiDocs = new Hono()
  .get('/openapi.json', (c) => c.json(openApiDocument(), 200, CACHE))
  .get('/asyncapi.json', (c) => c.json(asyncApiDocument(), 200, CACHE));
