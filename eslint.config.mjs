// Lint: typescript-eslint's strict type-checked rules over the whole tree (see CONTRIBUTING.md).
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', '.data/**', 'dist/**', '**/*.mjs', '**/*.js'] },
  eslint.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // numbers and booleans read naturally in messages; objects and undefined still refused
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      '@typescript-eslint/no-floating-promises': 'error',
      'no-empty': 'error',
      // a closure may read a variable before its single later assignment (`let uplink; ... uplink = new ...`):
      // `const` there would throw in the temporal dead zone instead of reading undefined
      // D-Bus and transport interfaces fix the parameter list; `_name` marks one an implementation does not need
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    // product code: a rejection is handled or logged, never dropped by an empty callback
    files: ['contract/**/*.ts', 'drivers/**/*.ts', 'gateway/**/*.ts', 'hub/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector:
            "CallExpression[callee.property.name='catch'] > ArrowFunctionExpression[body.type='BlockStatement'][body.body.length=0]",
          message: 'Do not swallow a rejection: log it or handle it.',
        },
      ],
    },
  },
  {
    // tests assert presence with expect() before dereferencing; a failed `!` fails the test anyway
    files: ['test/**/*.ts', '**/*.test.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
