/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true }],
  },
  // ts-jest rewrites `./x.ts` imports to `./x.js` (rewriteRelativeImportExtensions); map them back.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testMatch: ['<rootDir>/__tests__/**/*.test.ts', '<rootDir>/gateway/test/**/*.test.ts'],
  testTimeout: 60000,
}
