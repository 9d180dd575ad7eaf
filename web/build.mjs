#!/usr/bin/env node
// Builds the web console into web/dist (served by the API at /console/).
//   node web/build.mjs             always build
//   node web/build.mjs --if-stale  build only when web/dist is missing or older than its sources
// `npm run setup` and the browser tests (test/support/browser.ts) use --if-stale, so a second run
// costs a directory walk.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const webDir = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(webDir);
const distDir = path.join(webDir, 'dist');
const stamp = path.join(distDir, '.build-stamp');

/** The newest modification time among the console's sources and the lock file that pins its tools. */
function newestSourceMtime() {
  let newest = fs.statSync(path.join(root, 'package-lock.json')).mtimeMs;
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'dist' || entry.name === 'node_modules') continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else newest = Math.max(newest, fs.statSync(full).mtimeMs);
    }
  };
  walk(webDir);
  return newest;
}

export function isStale() {
  if (!fs.existsSync(stamp) || !fs.existsSync(path.join(distDir, 'index.html'))) return true;
  return newestSourceMtime() > fs.statSync(stamp).mtimeMs;
}

export async function buildConsole({ ifStale = false } = {}) {
  if (ifStale && !isStale()) {
    console.log('web console: web/dist is up to date; nothing to do');
    return false;
  }
  const started = Date.now();
  const { build } = await import('vite');
  await build({ configFile: path.join(webDir, 'vite.config.mjs') });
  fs.writeFileSync(stamp, `${new Date().toISOString()}\n`);
  console.log(`web console: built into web/dist in ${Date.now() - started} ms`);
  return true;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildConsole({ ifStale: process.argv.includes('--if-stale') }).catch((err) => {
    console.error('web console: build failed:', err);
    process.exit(1);
  });
}
