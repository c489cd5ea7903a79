// Vite builds the console (src/console/) into dist/console/, served by the coordinator at /admin.
// src/tools/build.js runs it as part of `npm run build`; `npx vite --config src/console/vite.config.js`
// serves it with hot reload, its API calls proxied to a coordinator on 127.0.0.1:36789.
import { fileURLToPath, URL } from 'node:url';
import { defineConfig } from 'vite';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: '/admin/',
  publicDir: false,
  logLevel: 'warn',
  clearScreen: false,
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: here('../../dist/console'),
    emptyOutDir: true,
    target: 'es2022',
    // No inline script: the console's content security policy allows only its own files.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    reportCompressedSize: false,
    sourcemap: false,
  },
  server: { proxy: { '/api': 'http://127.0.0.1:36789' } },
});
