import { afterEach, describe, expect, it, vi } from 'vitest';
import { AgentError } from '../agentcore/agent-error';
import { DatabaseUnavailable } from '../db/errors';
import { describeFailure } from './failure';

describe('describeFailure', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('keeps an agent failure as the bridge described it', () => {
    expect(describeFailure(new AgentError('agent_timeout', 'the agent went silent for 60000 ms'), {})).toEqual({
      code: 'agent_timeout',
      message: 'the agent went silent for 60000 ms',
    });
  });

  it('never tells a user the raw message of an unexpected error, and logs it with the request id', () => {
    const logged: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((line: string) => {
      logged.push(line);
    });
    const raw = 'string or blob too big: SQLITE_TOOBIG at /srv/secret/path';
    const failure = describeFailure(new Error(raw), { request_id: 'req-42', conversation_id: 'c-1' });
    expect(failure).toEqual({ code: 'internal', message: 'the reply failed' });
    expect(JSON.stringify(failure)).not.toContain('SQLITE');
    const line = JSON.parse(logged.find((l) => l.includes('req-42')) ?? '{}') as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'error', request_id: 'req-42', conversation_id: 'c-1', where: 'reply' });
    expect(String(line.error)).toContain(raw);
  });

  it('says a known outage plainly', () => {
    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const failure = describeFailure(
      new DatabaseUnavailable('the database is unavailable', { cause: new Error('ECONNREFUSED') }),
      {},
    );
    expect(failure.code).toBe('unavailable');
    expect(failure.message).not.toContain('ECONNREFUSED');
  });
});
