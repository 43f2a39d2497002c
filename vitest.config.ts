import { defineConfig } from 'vitest/config';

// unit: pure code and mocked AWS SDK. integration/e2e: one DynamoDB Local for the whole run,
// started and stopped by test/support/global-setup.ts. infra: CDK synth and template assertions.
// The e2e files that also run against the bundles: every function and route kind in them, in
// modest time (the rest stays on the sources; docs/benchmarks.md has the measured cost).
const E2E_ON_BUNDLES = [
  'test/e2e/chat-sessions.test.ts',
  'test/e2e/chat-message.test.ts',
  'test/e2e/chat-export.test.ts',
  'test/e2e/api-keys-http.test.ts',
  'test/e2e/organizations-http.test.ts',
  'test/e2e/local-gateway.test.ts',
  'test/e2e/openai-sdk.test.ts',
];

export default defineConfig({
  test: {
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      // EMF metric lines stay off unless a test turns them on (test/unit/metrics.test.ts); table names
      // and a silent log level come from test/support/unit-env.ts.
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          env: { POWERTOOLS_METRICS_DISABLED: 'true' },
          setupFiles: ['test/support/unit-env.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          setupFiles: ['test/support/setup-env.ts'],
          testTimeout: 60_000,
          hookTimeout: 90_000,
        },
      },
      {
        // Headless Debian Chromium (scripts/install-chromium.sh); skipped locally without it, required in CI.
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          // Pages call the API as http://api.keygate.test:<port> (test/browser/support.ts), a Host the
          // local server refuses unless configured, like any name besides localhost (DNS rebinding).
          env: { KEYGATE_ALLOWED_HOSTS: 'api.keygate.test' },
          globalSetup: ['test/support/global-setup.ts', 'test/support/build-portal.ts'],
          setupFiles: ['test/support/setup-env.ts'],
          testTimeout: 60_000,
          hookTimeout: 90_000,
        },
      },
      {
        // The synthesized Lambda bundles (one `cdk synth` per run, test/support/synth-setup.ts): the
        // bundle harness, and e2e files run again with the local API serving the bundles.
        test: {
          name: 'bundles',
          include: ['test/bundles/**/*.test.ts', ...E2E_ON_BUNDLES],
          globalSetup: ['test/support/global-setup.ts', 'test/support/build-portal.ts', 'test/support/synth-setup.ts'],
          setupFiles: ['test/support/setup-env.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      { test: { name: 'infra', include: ['test/infra/**/*.test.ts'], globalSetup: ['test/support/build-portal.ts'], testTimeout: 120_000, hookTimeout: 180_000 } },
    ],
  },
});
