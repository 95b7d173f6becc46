/**
 * The one jest config of the workspace. Test kind is in the file name:
 * *.unit.test.ts (no I/O), *.int.test.ts (real PostgreSQL + RabbitMQ), *.e2e.test.ts (whole system).
 * @type {import('jest').Config}
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/apps', '<rootDir>/libs', '<rootDir>/prisma', '<rootDir>/k8s', '<rootDir>/tools'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.base.json' }],
  },
  moduleFileExtensions: ['ts', 'js', 'json'],
  globalSetup: '<rootDir>/jest.global-setup.js',
  testTimeout: 60_000,
  maxWorkers: 2,
};
