/**
 * /reference.html: the REST API reference (Swagger UI, served from our own assets: nothing from a CDN) over the
 * OpenAPI document the Worker generates from worker/wire.ts. A page of its own, so none of it is in the chat's JS.
 */
import 'swagger-ui-dist/swagger-ui.css';
import SwaggerUIBundle from 'swagger-ui-dist/swagger-ui-bundle.js';

SwaggerUIBundle({ url: '/api/v1/openapi.json', dom_id: '#reference', deepLinking: true });
