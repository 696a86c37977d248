import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import prettier from 'eslint-config-prettier'

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'gateway/dist/**', 'test-output/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // The HTTP layer reaches the database, the job queue and the composition root only through
    // the application services it is given (docs/architecture.md).
    files: ['gateway/src/http/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '(^|/)(db|start|jobs)/',
              message:
                'http/ calls application services (services/index.ts AppServices), never db/, jobs/ or start/.',
            },
          ],
        },
      ],
    },
  },
  {
    // Example scripts run as they are on Node (or in a browser): these globals exist in both.
    files: ['examples/**/*.mjs'],
    languageOptions: {
      globals: Object.fromEntries(
        ['process', 'console', 'Blob', 'TextEncoder', 'AbortController'].map((name) => [
          name,
          'readonly',
        ]),
      ),
    },
  },
  {
    // Tests poke at loosely typed JSON answers on purpose.
    files: ['**/__tests__/**', 'gateway/test/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
)
