// ESLint: typescript-eslint's type-checked rules plus the module boundaries of DESIGN.md §1.
import js from '@eslint/js';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/** Modules only one folder may import, so each library stays behind one seam. */
const boundaries = {
  ioredis: 'only src/store/ talks to Redis',
  'uWebSockets.js': 'only src/http/ serves HTTP',
  'prom-client': 'only src/metrics.ts owns metrics',
  msgpackr: 'only src/codec.ts encodes blobs',
  '@grpc/grpc-js': 'only src/grpc/ and src/trans/grpc-branch-call.ts speak gRPC',
  '@grpc/proto-loader': 'only src/grpc/ loads protos',
  '@grpc/reflection': 'only src/grpc/ serves gRPC',
};

/** A no-restricted-imports rule refusing every boundary module except `allowed`. */
function restrict(...allowed) {
  const paths = Object.entries(boundaries)
    .filter(([name]) => !allowed.includes(name))
    .map(([name, message]) => ({ name, message }));
  return ['error', { paths, patterns: [{ group: ['**/index.js'], message: 'no barrels: import the module itself' }] }];
}

export default tseslint.config(
  { ignores: ['dist/', 'deploy/sdk/dist/', 'deploy/sdk/lua/', 'node_modules/', 'coverage/', '.tap/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { 'import-x': importX },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Rethrowing what a catch caught (typed unknown) is fine; throwing a literal is not.
      '@typescript-eslint/only-throw-error': ['error', { allowThrowingUnknown: true }],
      eqeqeq: ['error', 'always'],
      'import-x/no-cycle': 'error',
      'no-restricted-imports': restrict(),
    },
  },
  // Each library behind its one seam.
  { files: ['src/store/**/*.ts'], rules: { 'no-restricted-imports': restrict('ioredis') } },
  { files: ['src/http/**/*.ts'], rules: { 'no-restricted-imports': restrict('uWebSockets.js') } },
  { files: ['src/metrics.ts'], rules: { 'no-restricted-imports': restrict('prom-client') } },
  { files: ['src/codec.ts'], rules: { 'no-restricted-imports': restrict('msgpackr') } },
  { files: ['src/grpc/**/*.ts'], rules: { 'no-restricted-imports': restrict('@grpc/grpc-js', '@grpc/proto-loader', '@grpc/reflection') } },
  { files: ['src/trans/grpc-branch-call.ts'], rules: { 'no-restricted-imports': restrict('@grpc/grpc-js') } },
  // The SDK imports nothing of the server: it must work against DTM itself and ship alone.
  {
    files: ['src/client/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['../*', '!../client', '!../client/**'], message: 'the client SDK imports nothing of the server' },
            { group: ['../../*', '!../../client', '!../../client/**'], message: 'the client SDK imports nothing of the server' },
          ],
          paths: Object.entries(boundaries)
            .filter(([name]) => name !== 'ioredis')
            .map(([name, message]) => ({ name, message })),
        },
      ],
    },
  },
  // The console runs in a browser: nothing of Node, and of the server only the shared JSON types.
  {
    files: ['src/console/**/*.ts', 'src/console/**/*.tsx'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: Object.entries(boundaries).map(([name, message]) => ({ name, message })),
          patterns: [
            { group: ['node:*'], message: 'the console runs in a browser' },
            {
              regex: '^(\\.\\./)+(?!http/console-wire\\.js$)(store|trans|http|client|tools)/',
              message: 'the console imports only http/console-wire.ts of the server',
            },
          ],
        },
      ],
    },
  },
  // Vite's config and the build script load Vite, whose package import-x's resolver cannot read; neither is part of a cycle.
  { files: ['src/console/vite.config.js', 'src/tools/build.js'], rules: { 'import-x/no-cycle': 'off' } },
  // Tests and benchmarks start real servers and clients; only the library seams of src/ bind them.
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      'no-restricted-imports': 'off',
      // tap runs subtests it is given and reports their failures; awaiting t.test is not needed.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafePromises: [{ from: 'package', package: '@tapjs/core', name: 'PromiseWithSubtest' }] },
      ],
      // An async test callback without await is how tap's API reads.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  { files: ['**/*.js'], extends: [tseslint.configs.disableTypeChecked] },
);
