/**
 * The layering rule of functions/, checked in CI (`npm run depcheck`):
 *   core        → nothing but core (no SDK, no npm package, no adapter/platform/entrypoint code)
 *   adapters    → core ports and errors only, and SDKs (one port implementation per file); an
 *                 adapter is handed its credentials, it never reads consents or tenants itself
 *   core        → no source-specific code: nothing under core is named after a source
 *   platform    → anything in functions/ (it is the composition root)
 *   entrypoints → core and platform, never adapters directly
 *   functions/  → never infra/ or test/
 */
module.exports = {
  forbidden: [
    {
      name: 'core-imports-no-package',
      comment: 'functions/core is the domain: it imports no SDK and no npm package.',
      severity: 'error',
      from: { path: '^functions/core' },
      to: { dependencyTypes: ['npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-bundled', 'npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'core-stays-inside',
      comment: 'functions/core does not know adapters, platform or entry points.',
      severity: 'error',
      from: { path: '^functions/core' },
      to: { path: '^functions/(adapters|platform|entrypoints)|^functions/index' },
    },
    {
      name: 'adapters-only-core',
      comment: 'An adapter implements a core port; it does not reach platform or entry points.',
      severity: 'error',
      from: { path: '^functions/adapters' },
      to: { path: '^functions/(platform|entrypoints)|^functions/index' },
    },
    {
      name: 'adapters-only-ports-and-errors',
      comment: 'An adapter sees the core only through its ports and typed errors (no use case, no consent or tenant logic).',
      severity: 'error',
      from: { path: '^functions/adapters' },
      to: { path: '^functions/core/', pathNot: '^functions/core/(ports/[^/]+|errors)[.]ts$' },
    },
    {
      name: 'core-not-source-specific',
      comment: 'The core serves every export source alike: no module of it is about one source (sources are adapters).',
      severity: 'error',
      from: { path: '^functions/core' },
      to: { path: '^functions/core/.*(google|mews|portability)', pathNot: '^functions/core/ports/portability-grants[.]ts$' },
    },
    {
      name: 'entrypoints-not-adapters',
      comment: 'Entry points get adapters through the composition root (platform/runtime.ts).',
      severity: 'error',
      from: { path: '^functions/entrypoints' },
      to: { path: '^functions/adapters' },
    },
    {
      name: 'functions-not-infra-or-test',
      severity: 'error',
      from: { path: '^functions' },
      to: { path: '^(infra|test)/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
