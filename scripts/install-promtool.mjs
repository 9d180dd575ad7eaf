// promtool, for the alerting rules' unit tests (test/alerts.test.ts runs `promtool test rules`).
// Taken from PROMTOOL_PATH, .tools/bin/promtool or PATH; when missing, extracted from Debian's
// `prometheus` package: `apt-get download` fetches the .deb and only its promtool binary is copied to
// .tools/bin (git-ignored). The package is never installed, so no Prometheus service is set up or
// started by this. Idempotent: a second run finds the binary and changes nothing.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const LOCAL_PROMTOOL = path.join(root, '.tools', 'bin', 'promtool');

function onPath(name) {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

/** The promtool the tests will use, or undefined. */
export function findPromtool() {
  if (process.env.PROMTOOL_PATH) return fs.existsSync(process.env.PROMTOOL_PATH) ? process.env.PROMTOOL_PATH : undefined;
  if (fs.existsSync(LOCAL_PROMTOOL)) return LOCAL_PROMTOOL;
  return onPath('promtool');
}

/** Finds promtool or extracts it from Debian's package; `apt` runs apt-get with the caller's privileges. */
export function ensurePromtool({ apt, log = console.log } = {}) {
  const found = findPromtool();
  if (found) {
    log(`promtool: ${found} (${execFileSync(found, ['--version'], { encoding: 'utf8' }).split('\n')[0]})`);
    return found;
  }
  if (!onPath('apt-get') || !onPath('dpkg-deb')) {
    log("promtool is missing and there is no apt-get here: install Prometheus's promtool yourself and set PROMTOOL_PATH");
    return undefined;
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'promtool-'));
  try {
    // apt-get download writes into the current directory as the _apt user: let it.
    fs.chmodSync(work, 0o777);
    apt(['download', 'prometheus'], { cwd: work });
    const deb = fs.readdirSync(work).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error('apt-get download prometheus left no .deb');
    execFileSync('dpkg-deb', ['-x', path.join(work, deb), path.join(work, 'x')]);
    fs.mkdirSync(path.dirname(LOCAL_PROMTOOL), { recursive: true });
    fs.copyFileSync(path.join(work, 'x', 'usr', 'bin', 'promtool'), LOCAL_PROMTOOL);
    fs.chmodSync(LOCAL_PROMTOOL, 0o755);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  log(`promtool: ${LOCAL_PROMTOOL} (extracted from Debian's prometheus package; nothing installed, no service started)`);
  return LOCAL_PROMTOOL;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const apt = (args, opts = {}) => execFileSync('apt-get', args, { stdio: 'inherit', ...opts, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (!ensurePromtool({ apt })) process.exit(1);
}
