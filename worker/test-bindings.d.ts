// Bindings only the tests have (vitest.config.ts → dev/test-env.ts): the local services' addresses.
declare namespace Cloudflare {
  interface Env {
    /** dev/control-server.ts: stop/start the test Postgres, make fresh databases. */
    TEST_CONTROL_URL: string;
    /** dev/agentcore.ts base URL (its fake OpenAI API is under /openai/v1). */
    TEST_AGENT_BASE: string;
    /** dev/jwks-server.ts base URL. */
    TEST_JWKS_BASE: string;
  }
}
