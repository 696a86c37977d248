/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true }],
  },
  // ts-jest rewrites `./x.ts` imports to `./x.js` (rewriteRelativeImportExtensions); map them back.
  // The workspace package kaixu-contract is TypeScript source: point at it, so ts-jest compiles it.
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    '^kaixu-contract$': '<rootDir>/contract/src/index.ts',
  },
  testMatch: ['<rootDir>/__tests__/**/*.test.ts', '<rootDir>/gateway/test/**/*.test.ts'],
  testTimeout: 60000,
}
