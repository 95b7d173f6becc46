/**
 * Import rules of the monorepo (CONVENTIONS.md), checked by `npm test`:
 * apps never import each other, libs never import apps, event contracts depend on nothing
 * of ours, and nothing imports a test file from production code.
 * @type {import('dependency-cruiser').IConfiguration}
 */
module.exports = {
  forbidden: [
    {
      name: 'no-app-to-app',
      severity: 'error',
      comment: 'Apps share only event contracts (libs/events); talk through events, not imports.',
      from: { path: '^apps/([^/]+)/' },
      to: { path: '^apps/', pathNot: '^apps/$1/' },
    },
    {
      name: 'no-lib-to-app',
      severity: 'error',
      comment: 'Libs are capabilities every app can use; they must not know any app.',
      from: { path: '^libs/' },
      to: { path: '^apps/' },
    },
    {
      name: 'events-depend-on-nothing',
      severity: 'error',
      comment: 'Event contracts are the one thing apps share: they depend on no other lib or app.',
      from: { path: '^libs/events/' },
      to: { path: '^(apps|libs)/', pathNot: '^libs/events/' },
    },
    {
      name: 'no-lib-to-lib-internals',
      severity: 'error',
      comment: "Use another lib through its package entry (index.ts), not its inner files.",
      from: { path: '^libs/([^/]+)/' },
      to: { path: '^libs/', pathNot: ['^libs/$1/', '^libs/[^/]+/src/index\\.ts$'] },
    },
    {
      name: 'no-code-to-tools',
      severity: 'error',
      comment: 'tools/ reads the apps to write documents (the contract); nothing runs it at run time.',
      from: { path: '^(apps|libs)/' },
      to: { path: '^tools/' },
    },
    {
      name: 'no-production-to-tests',
      severity: 'error',
      from: { path: '^(apps|libs)/[^/]+/src/' },
      to: { path: '^(apps|libs)/[^/]+/(test|bench)/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: { pathNot: '/generated/' },
      to: { circular: true, pathNot: '/generated/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)generated/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
