// Spin, the model checker of model/order-saga.pml (`npm run model-check`, test/model.test.ts).
// Taken from SPIN_PATH, .tools/bin/spin or PATH; when missing, extracted from Debian's `spin` package:
// `apt-get download` fetches the .deb and only its spin binary is copied to .tools/bin (git-ignored).
// The package is never installed. Spin writes a verifier in C (pan.c), compiled with the machine's gcc,
// which also preprocesses the model. Idempotent: a second run finds the binary and changes nothing.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const LOCAL_SPIN = path.join(root, '.tools', 'bin', 'spin');

function onPath(name) {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

/** The spin the model check will use, or undefined (model/check.ts looks in the same places). */
export function findSpin() {
  if (process.env.SPIN_PATH) return fs.existsSync(process.env.SPIN_PATH) ? process.env.SPIN_PATH : undefined;
  if (fs.existsSync(LOCAL_SPIN)) return LOCAL_SPIN;
  return onPath('spin');
}

function versionOf(spin) {
  return execFileSync(spin, ['-V'], { encoding: 'utf8' }).trim();
}

/** Finds spin or extracts it from Debian's package; `apt` runs apt-get with the caller's privileges. */
export function ensureSpin({ apt, log = console.log } = {}) {
  const found = findSpin();
  if (found) {
    log(`spin: ${found} (${versionOf(found)})`);
  } else if (!onPath('apt-get') || !onPath('dpkg-deb')) {
    log('spin is missing and there is no apt-get here: install the Spin model checker yourself and set SPIN_PATH');
    return undefined;
  } else {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'spin-'));
    try {
      // apt-get download writes into the current directory as the _apt user: let it.
      fs.chmodSync(work, 0o777);
      log("spin: downloading Debian's spin package (apt-get download spin)");
      apt(['download', 'spin'], { cwd: work });
      const deb = fs.readdirSync(work).find((f) => f.endsWith('.deb'));
      if (!deb) throw new Error('apt-get download spin left no .deb');
      log(`spin: extracting usr/bin/spin from ${deb}`);
      execFileSync('dpkg-deb', ['-x', path.join(work, deb), path.join(work, 'x')]);
      fs.mkdirSync(path.dirname(LOCAL_SPIN), { recursive: true });
      fs.copyFileSync(path.join(work, 'x', 'usr', 'bin', 'spin'), LOCAL_SPIN);
      fs.chmodSync(LOCAL_SPIN, 0o755);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
    log(`spin: ${LOCAL_SPIN} (${versionOf(LOCAL_SPIN)}; extracted from Debian's spin package, nothing installed)`);
  }
  const gcc = process.env.CC ?? 'gcc';
  if (!onPath(gcc)) log(`spin needs a C compiler for its verifiers (and to preprocess the model): ${gcc} is not on PATH (set CC)`);
  return found ?? LOCAL_SPIN;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const apt = (args, opts = {}) => execFileSync('apt-get', args, { stdio: 'inherit', ...opts, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (!ensureSpin({ apt })) process.exit(1);
}
