/**
 * What stops an environment from being deployed: `npm run deploy` refuses while this lists anything.
 * Pure: it judges what the deploy script gathered (wrangler.toml for that environment, the names of the secrets
 * set on Cloudflare, the shell's migration URL), so it is tested without a Cloudflare account.
 */
import { ConfigSchema } from '../worker/config';

export const ENVIRONMENTS = ['staging', 'production'] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

/** The Durable Object bindings the Worker uses; bindings are not inherited by environments. */
const DURABLE_OBJECTS: Record<string, string> = { ROOMS: 'ConversationRoom', QUOTAS: 'UserQuota' };

/** Settings every deployed environment sets in its wrangler.toml [env.NAME.vars]. */
const REQUIRED_VARS = ['AGENTCORE_URL', 'AUTH_ISSUER', 'AUTH_AUDIENCE'] as const;

/**
 * Local-only settings: in a deployed Worker they would turn on the dev login, send Postgres traffic in clear, or
 * count every storage call and every Durable Object request (the capacity bench's meter).
 */
const FORBIDDEN = ['DEV_AUTH', 'NEON_WS_PROXY', 'STORAGE_METER'] as const;

/** Values that stand in for secrets when the plain settings are run through the Worker's own config schema. */
const SECRET_STAND_INS: Record<string, string> = {
  DATABASE_URL: 'postgres://user:password@db.invalid/neondb',
  AUTH_JWT_SECRET: 'x'.repeat(32),
  AGENTCORE_TOKEN: 'token',
};

export interface DeployInput {
  env: string;
  /** The environment's resolved wrangler config (unstable_readConfig with `env`). */
  config: {
    name?: string;
    vars: Record<string, unknown>;
    durable_objects: { bindings: { name: string; class_name: string }[] };
    observability?: { enabled?: boolean; logs?: { enabled?: boolean } };
  };
  /** Names of the secrets set on the deployed Worker; null when they were not looked up (a dry run). */
  secrets: string[] | null;
  /** The shell's DATABASE_URL_<ENV>, which the migrations are applied with. */
  migrationUrl: string | undefined;
  /** A dry run applies nothing, so it does not need the migration URL. */
  dryRun: boolean;
}

export function migrationUrlName(env: string): string {
  return `DATABASE_URL_${env.toUpperCase()}`;
}

/** Every reason not to deploy, one line each; empty when the environment may be deployed. */
export function deployProblems(input: DeployInput): string[] {
  if (!(ENVIRONMENTS as readonly string[]).includes(input.env)) {
    return [`--env must be one of ${ENVIRONMENTS.join(', ')} (got ${input.env || 'nothing'})`];
  }
  const vars = stringVars(input.config.vars);
  const secrets = new Set(input.secrets ?? []);
  return [
    ...bindingProblems(input),
    ...varProblems(input.env, vars),
    ...(input.secrets ? secretProblems(input.env, vars, secrets) : []),
    ...schemaProblems(input.env, vars),
    ...migrationProblems(input),
  ];
}

function stringVars(raw: Record<string, unknown>): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) vars[k] = typeof v === 'string' ? v : JSON.stringify(v);
  return vars;
}

function bindingProblems({ env, config }: DeployInput): string[] {
  const problems: string[] = [];
  for (const [name, className] of Object.entries(DURABLE_OBJECTS)) {
    const found = config.durable_objects.bindings.find((b) => b.name === name);
    if (found?.class_name !== className) {
      problems.push(`wrangler.toml [[env.${env}.durable_objects.bindings]]: ${name} → ${className} is missing`);
    }
  }
  if (!config.observability?.enabled || config.observability.logs?.enabled === false) {
    problems.push('wrangler.toml [observability]: Workers Logs must be enabled');
  }
  return problems;
}

function varProblems(env: string, vars: Record<string, string>): string[] {
  const where = `wrangler.toml [env.${env}.vars]`;
  const problems: string[] = [];
  for (const name of REQUIRED_VARS) if (!vars[name]) problems.push(`${where}: ${name} is not set`);
  for (const name of FORBIDDEN) if (name in vars) problems.push(`${where}: ${name} must not be set (local only)`);
  const agent = vars.AGENTCORE_URL;
  if (agent && !agent.startsWith('https://')) problems.push(`${where}: AGENTCORE_URL must be an https:// URL`);
  for (const origin of (vars.ALLOWED_ORIGINS ?? '').split(',').map((o) => o.trim())) {
    if (origin && !isHttpsOrigin(origin)) {
      problems.push(`${where}: ALLOWED_ORIGINS entry ${origin} is not an https origin (scheme://host[:port])`);
    }
  }
  return problems;
}

function isHttpsOrigin(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'https:' && url.origin === text;
  } catch {
    return false;
  }
}

function secretProblems(env: string, vars: Record<string, string>, secrets: Set<string>): string[] {
  const put = (name: string) => `secret ${name} is not set: npx wrangler secret put ${name} --env ${env}`;
  const problems: string[] = [];
  if (!secrets.has('DATABASE_URL')) problems.push(put('DATABASE_URL'));
  if (!secrets.has('AGENTCORE_TOKEN')) problems.push(put('AGENTCORE_TOKEN'));
  if (!secrets.has('AUTH_JWT_SECRET') && !vars.AUTH_JWKS_URL) {
    problems.push(`${put('AUTH_JWT_SECRET')} (or set AUTH_JWKS_URL in [env.${env}.vars])`);
  }
  for (const name of FORBIDDEN) {
    if (secrets.has(name))
      problems.push(`secret ${name} must not be set: npx wrangler secret delete ${name} --env ${env}`);
  }
  for (const name of secrets) {
    if (name in vars) problems.push(`${name} is both a secret and a var in [env.${env}.vars]: keep one`);
  }
  return problems;
}

/** The plain settings as the Worker itself will read them (secrets stood in for), so a bad limit fails here. */
function schemaProblems(env: string, vars: Record<string, string>): string[] {
  const raw = { ...SECRET_STAND_INS, ...vars };
  if (vars.AUTH_JWKS_URL) delete (raw as Record<string, string>).AUTH_JWT_SECRET;
  const parsed = ConfigSchema.safeParse(raw);
  if (parsed.success) return [];
  return parsed.error.issues
    .filter((issue) => !REQUIRED_VARS.some((name) => issue.path[0] === name && !vars[name]))
    .map((issue) => `wrangler.toml [env.${env}.vars]: ${issue.path.join('.') || 'config'}: ${issue.message}`);
}

function migrationProblems({ env, migrationUrl, dryRun }: DeployInput): string[] {
  const name = migrationUrlName(env);
  if (!migrationUrl) {
    return dryRun ? [] : [`${name} is not set in this shell: the ${env} database's connection string, to migrate it`];
  }
  try {
    if (!/^postgres(ql)?:$/.test(new URL(migrationUrl).protocol)) return [`${name} must be a postgres:// URL`];
  } catch {
    return [`${name} is not a URL`];
  }
  return [];
}
