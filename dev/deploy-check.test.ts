import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { unstable_readConfig } from 'wrangler';
import { pendingMigrations } from './deploy';
import { type DeployInput, deployProblems } from './deploy-check';
import { ensureDatabase, migrateDatabase } from './migrate';
import { readTestPorts, workerBindings } from './test-env';

const committed = (env: string) => unstable_readConfig({ config: 'wrangler.toml', env }, { hideWarnings: true });

const FILLED_VARS = {
  AGENTCORE_URL: 'https://agentcore.example.com/v1/agent',
  AGENTCORE_PROTOCOL: 'ui-stream',
  AUTH_ISSUER: 'https://auth.example.com',
  AUTH_AUDIENCE: 'agent-chat',
  ALLOWED_ORIGINS: 'https://dashboard.example.com',
  LOG_LEVEL: 'info',
};

/** A staging environment that may be deployed; each test breaks one thing. */
function ready(change: (input: DeployInput) => void = () => {}): DeployInput {
  const config = committed('staging');
  const input: DeployInput = {
    env: 'staging',
    config: { ...config, vars: { ...FILLED_VARS } },
    secrets: ['DATABASE_URL', 'AUTH_JWT_SECRET', 'AGENTCORE_TOKEN'],
    migrationUrl: 'postgres://u:p@ep-x.eu-central-1.aws.neon.tech/neondb?sslmode=require',
    dryRun: false,
  };
  change(input);
  return input;
}

describe('deploy config check', () => {
  it('passes an environment with every setting and secret', () => {
    expect(deployProblems(ready())).toEqual([]);
  });

  it.each(['staging', 'production'])('the committed %s names exactly the settings an operator fills in', (env) => {
    const problems = deployProblems({
      env,
      config: committed(env),
      secrets: null,
      migrationUrl: undefined,
      dryRun: true,
    });
    expect(problems).toEqual([
      `wrangler.toml [env.${env}.vars]: AGENTCORE_URL is not set`,
      `wrangler.toml [env.${env}.vars]: AUTH_ISSUER is not set`,
      `wrangler.toml [env.${env}.vars]: AUTH_AUDIENCE is not set`,
    ]);
  });

  it('the committed environments never set DEV_AUTH and keep Workers Logs on', () => {
    for (const env of ['staging', 'production']) {
      const config = committed(env);
      expect(config.vars).not.toHaveProperty('DEV_AUTH');
      expect(config.observability?.enabled).toBe(true);
      expect(config.observability?.logs?.enabled).toBe(true);
      expect(config.migrations.map((m: { tag: string }) => m.tag)).toContain('v1');
    }
  });

  it('names each missing secret with the command that sets it', () => {
    expect(
      deployProblems(
        ready((i) => {
          i.secrets = [];
        }),
      ),
    ).toEqual([
      'secret DATABASE_URL is not set: npx wrangler secret put DATABASE_URL --env staging',
      'secret AGENTCORE_TOKEN is not set: npx wrangler secret put AGENTCORE_TOKEN --env staging',
      'secret AUTH_JWT_SECRET is not set: npx wrangler secret put AUTH_JWT_SECRET --env staging (or set AUTH_JWKS_URL in [env.staging.vars])',
    ]);
  });

  it('takes AUTH_JWKS_URL instead of AUTH_JWT_SECRET', () => {
    const input = ready((i) => {
      i.secrets = ['DATABASE_URL', 'AGENTCORE_TOKEN'];
      i.config.vars.AUTH_JWKS_URL = 'https://auth.example.com/.well-known/jwks.json';
    });
    expect(deployProblems(input)).toEqual([]);
  });

  it('refuses the local-only settings, as vars or as secrets', () => {
    const problems = deployProblems(
      ready((i) => {
        i.config.vars.DEV_AUTH = 'false';
        i.config.vars.STORAGE_METER = 'true';
        i.secrets?.push('NEON_WS_PROXY');
      }),
    );
    expect(problems).toEqual([
      'wrangler.toml [env.staging.vars]: DEV_AUTH must not be set (local only)',
      'wrangler.toml [env.staging.vars]: STORAGE_METER must not be set (local only)',
      'secret NEON_WS_PROXY must not be set: npx wrangler secret delete NEON_WS_PROXY --env staging',
    ]);
  });

  it('refuses a plain-http agent and origins that are not https origins', () => {
    const problems = deployProblems(
      ready((i) => {
        i.config.vars.AGENTCORE_URL = 'http://agentcore.example.com';
        i.config.vars.ALLOWED_ORIGINS = 'https://ok.example.com, http://dash.example.com,https://x.example.com/path';
      }),
    );
    expect(problems).toEqual([
      'wrangler.toml [env.staging.vars]: AGENTCORE_URL must be an https:// URL',
      'wrangler.toml [env.staging.vars]: ALLOWED_ORIGINS entry http://dash.example.com is not an https origin (scheme://host[:port])',
      'wrangler.toml [env.staging.vars]: ALLOWED_ORIGINS entry https://x.example.com/path is not an https origin (scheme://host[:port])',
    ]);
  });

  it("runs the settings through the Worker's own config schema", () => {
    const problems = deployProblems(
      ready((i) => {
        i.config.vars.RATE_LIMIT_USER_BURST = '0';
      }),
    );
    expect(problems).toEqual([
      'wrangler.toml [env.staging.vars]: RATE_LIMIT_USER_BURST: Too small: expected number to be >=1',
    ]);
  });

  it('refuses a missing Durable Object binding and Workers Logs turned off', () => {
    const problems = deployProblems(
      ready((i) => {
        i.config = {
          ...i.config,
          durable_objects: { bindings: [{ name: 'ROOMS', class_name: 'ConversationRoom' }] },
          observability: { enabled: true, logs: { enabled: false } },
        };
      }),
    );
    expect(problems).toEqual([
      'wrangler.toml [[env.staging.durable_objects.bindings]]: QUOTAS → UserQuota is missing',
      'wrangler.toml [observability]: Workers Logs must be enabled',
    ]);
  });

  it('needs the migration URL to deploy, not to dry-run', () => {
    expect(
      deployProblems(
        ready((i) => {
          i.migrationUrl = undefined;
        }),
      ),
    ).toEqual([
      "DATABASE_URL_STAGING is not set in this shell: the staging database's connection string, to migrate it",
    ]);
    expect(
      deployProblems(
        ready((i) => {
          i.migrationUrl = undefined;
          i.dryRun = true;
        }),
      ),
    ).toEqual([]);
  });

  it('knows only staging and production', () => {
    expect(
      deployProblems(
        ready((i) => {
          i.env = 'prod';
        }),
      ),
    ).toEqual(['--env must be one of staging, production (got prod)']);
  });
});

describe('pending migrations', () => {
  it('lists every migration on an empty database and none once it is migrated', async () => {
    const bindings = workerBindings(readTestPorts(), { tightRateLimits: false });
    const wsProxy = bindings.NEON_WS_PROXY;
    const name = `deploy_${randomBytes(4).toString('hex')}`;
    const url = new URL(bindings.DATABASE_URL ?? '');
    url.pathname = `/${name}`;
    await ensureDatabase(bindings.DATABASE_URL ?? '', name, { wsProxy });
    const journal = JSON.parse(readFileSync('drizzle/meta/_journal.json', 'utf8')) as { entries: { tag: string }[] };
    const committedMigrations = journal.entries.map((entry) => entry.tag);
    expect(committedMigrations[0]).toBe('0000_init');
    expect(await pendingMigrations(url.href, wsProxy)).toEqual(committedMigrations);
    await migrateDatabase(url.href, { wsProxy });
    expect(await pendingMigrations(url.href, wsProxy)).toEqual([]);
  });
});
