import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import type { AgentErrorCode } from '../worker/agentcore/agent-error';
import { CHECKS } from './agentcore-check';

/** docs/agentcore.md cannot drift from the code it shows. */
const doc = await readFile(new URL('../docs/agentcore.md', import.meta.url), 'utf8');

describe('docs/agentcore.md', () => {
  it('shows the AI SDK route exactly as dev/ai-sdk-route.ts runs it', async () => {
    const source = await readFile(new URL('./ai-sdk-route.ts', import.meta.url), 'utf8');
    const region = /\/\/ #region route[^\n]*\n([\s\S]*?)\/\/ #endregion/.exec(source)?.[1];
    const shown = /```ts\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(region).toBeDefined();
    expect(shown).toBe(region);
  });

  it('names every check the conformance check makes and every error code a reply can end with', () => {
    for (const name of Object.values(CHECKS)) expect(doc).toContain(` ${name}: `);
    const codes: Record<AgentErrorCode | 'interrupted', true> = {
      agent_unreachable: true,
      agent_unauthorized: true,
      agent_http: true,
      agent_bad_stream: true,
      agent_timeout: true,
      agent_cut: true,
      agent_error: true,
      reply_too_large: true,
      interrupted: true,
    };
    for (const code of Object.keys(codes)) expect(doc).toContain(`| \`${code}\` |`);
  });
});
