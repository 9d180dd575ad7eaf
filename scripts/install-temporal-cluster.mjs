// The Temporal cluster engine (`npm start -- --cluster`, test/cluster.test.ts): Temporal's server, its
// SQL schema tool and its Web UI server, built with `go install` from the Go module proxy into
// .tools/temporal-cluster/bin (git-ignored). Pinned: the server is the 1.32 line of the dev server in
// .venv (Server 1.32.0), the UI server the one the CLI embeds (UI 2.54.1). go.temporal.io/server
// v1.32.2 wants Go >= 1.26.10, so the build runs with GOTOOLCHAIN=go1.27.3 (the go command fetches
// that toolchain from the proxy) unless GOTOOLCHAIN is set. Idempotent: a binary whose pinned version
// is recorded in versions.json is not built again.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setInterval, clearInterval } from 'node:timers';
import { fileURLToPath } from 'node:url';
import { onPath } from './debian-tool.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CLUSTER_TOOLS_DIR = path.join(root, '.tools', 'temporal-cluster');
export const CLUSTER_BIN = path.join(CLUSTER_TOOLS_DIR, 'bin');
export const GO_TOOLCHAIN = 'go1.27.3';

/** What is built: the binary's name in CLUSTER_BIN, the package and its pinned version. */
export const CLUSTER_TOOLS = [
  { name: 'temporal-server', pkg: 'go.temporal.io/server/cmd/server', version: 'v1.32.2' },
  { name: 'temporal-sql-tool', pkg: 'go.temporal.io/server/cmd/tools/sql', version: 'v1.32.2' },
  { name: 'temporal-ui-server', pkg: 'github.com/temporalio/ui-server/v2/cmd/server', version: 'v2.54.1' },
];

const stampFile = path.join(CLUSTER_TOOLS_DIR, 'versions.json');

function stamps() {
  try {
    return JSON.parse(fs.readFileSync(stampFile, 'utf8'));
  } catch {
    return {};
  }
}

/** `go install` of one tool into a scratch GOBIN (two of them are called `server`), then renamed. */
function goInstall(tool, env, log) {
  const gobin = fs.mkdtempSync(path.join(os.tmpdir(), `${tool.name}-`));
  const args = ['install', '-v', `${tool.pkg}@${tool.version}`];
  log(`$ GOTOOLCHAIN=${env.GOTOOLCHAIN} GOBIN=${gobin} go ${args.join(' ')}`);
  const started = Date.now();
  const tail = [];
  let built = 0;
  return new Promise((resolve, reject) => {
    const child = spawn('go', args, { env: { ...env, GOBIN: gobin }, stdio: ['ignore', 'pipe', 'pipe'] });
    const onOutput = (chunk) => {
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        // -v names each package as it is compiled: the count is the progress.
        if (!line.startsWith('go: ')) built++;
        tail.push(line);
        if (tail.length > 40) tail.shift();
      }
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    const ticker = setInterval(() => log(`  ${tool.name}: ${built} packages compiled, ${Math.round((Date.now() - started) / 1000)} s`), 20_000);
    child.on('exit', (code) => {
      clearInterval(ticker);
      const out = path.join(gobin, path.basename(tool.pkg));
      if (code !== 0 || !fs.existsSync(out)) {
        fs.rmSync(gobin, { recursive: true, force: true });
        reject(new Error(`go install ${tool.pkg}@${tool.version} failed (exit ${code}):\n${tail.join('\n')}`));
        return;
      }
      fs.mkdirSync(CLUSTER_BIN, { recursive: true });
      fs.copyFileSync(out, path.join(CLUSTER_BIN, tool.name));
      fs.chmodSync(path.join(CLUSTER_BIN, tool.name), 0o755);
      fs.rmSync(gobin, { recursive: true, force: true });
      log(`  ${tool.name} ${tool.version}: built in ${Math.round((Date.now() - started) / 1000)} s`);
      resolve();
    });
  });
}

/**
 * Builds the tools that are missing or not at their pinned version. Without Go it says what will not
 * work and returns false (the cluster's tests then fail, saying so); a failed build throws.
 */
export async function ensureTemporalCluster(opts = {}) {
  const log = opts.log ?? console.log;
  const recorded = stamps();
  const todo = CLUSTER_TOOLS.filter((t) => recorded[t.name] !== t.version || !fs.existsSync(path.join(CLUSTER_BIN, t.name)));
  if (todo.length === 0) {
    for (const t of CLUSTER_TOOLS) log(`${t.name} ${t.version}: ${path.relative(root, path.join(CLUSTER_BIN, t.name))}`);
    return true;
  }
  if (!onPath('go')) {
    log(`Go is not on PATH: not building ${todo.map((t) => t.name).join(', ')}; \`npm start -- --cluster\` and test/cluster.test.ts need them`);
    return false;
  }
  const env = { ...process.env, GOTOOLCHAIN: process.env.GOTOOLCHAIN || GO_TOOLCHAIN, GOFLAGS: process.env.GOFLAGS ?? '-buildvcs=false' };
  const goVersion = spawnSync('go', ['version'], { env, encoding: 'utf8' });
  log(`${(goVersion.stdout || goVersion.stderr).trim()} (GOTOOLCHAIN=${env.GOTOOLCHAIN}); the first build takes several minutes`);
  for (const tool of todo) {
    await goInstall(tool, env, log);
    fs.writeFileSync(stampFile, `${JSON.stringify({ ...stamps(), [tool.name]: tool.version }, null, 2)}\n`);
  }
  return true;
}

// `node scripts/install-temporal-cluster.mjs`: the same step on its own.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  ensureTemporalCluster().then(
    (ok) => process.exit(ok ? 0 : 1),
    (err) => {
      console.error(err.message);
      process.exit(1);
    },
  );
}
