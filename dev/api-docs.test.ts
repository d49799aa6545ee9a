import { Parser } from '@asyncapi/parser';
import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { asyncApiDocument } from '../worker/asyncapi';
import { openApiDocument } from '../worker/openapi';

/** The published documents are valid by their own specifications, as the tools that read them check. */
describe('API documents', () => {
  it('openapi.json is a valid OpenAPI 3.1 document', async () => {
    const result = await new Validator().validate(openApiDocument());
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('asyncapi.json is a valid AsyncAPI 3 document', async () => {
    const diagnostics = await new Parser().validate(JSON.stringify(asyncApiDocument()));
    const errors = diagnostics.filter((d) => d.severity === 0).map((d) => `${d.path.join('.')}: ${d.message}`);
    expect(errors).toEqual([]);
  });
});
