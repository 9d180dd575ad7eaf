// Vite build of the web console: four static pages (landing, restaurant console, customer page, operator's desk)
// under /console/, served by the API (api/app.ts). Build with `node web/build.mjs` (npm run setup
// does it); the output, web/dist, is git-ignored.
import { fileURLToPath, URL } from 'node:url';
import { defineConfig } from 'vite';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: '/console/',
  // No public/ folder and no env files: everything the pages need is in src/.
  publicDir: false,
  envDir: false,
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: here('dist'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    // The API's Content-Security-Policy allows same-origin scripts only: no inline module preload
    // polyfill, no inlined assets.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    rolldownOptions: {
      input: {
        index: here('index.html'),
        restaurant: here('restaurant/index.html'),
        customer: here('customer/index.html'),
        operator: here('operator/index.html'),
      },
    },
  },
});
