import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The pure core (events, actors, projections, dsl, blueprint) may not touch time, randomness or
// I/O: invariant 2 of DESIGN.md. Time and ids reach it only through ports.
const impure = {
  'no-restricted-globals': ['error', 'setTimeout', 'setInterval', 'setImmediate', 'process'],
  'no-restricted-properties': [
    'error',
    { object: 'Date', property: 'now', message: 'Time comes through the Clock port.' },
    { object: 'Math', property: 'random', message: 'Randomness comes through the IdSource port.' },
    { object: 'crypto', property: 'randomUUID', message: 'Ids come through the IdSource port.' },
  ],
  'no-restricted-imports': [
    'error',
    {
      patterns: [
        {
          group: ['node:fs*', 'node:net', 'node:child_process', 'node:http*', 'fs', 'net'],
          message: 'The core does no I/O.',
        },
        {
          group: ['**/adapters/**', '**/runtime/**', '**/cli/**'],
          message: 'Dependencies point inward.',
        },
      ],
    },
  ],
};

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '**/.tmp/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: [
      'src/events/**',
      'src/actors/**',
      'src/projections/**',
      'src/dsl/**',
      'src/blueprint/**',
    ],
    rules: impure,
  },
);
