// One binary taken from a Debian package without installing the package: used for promtool and spin.
// Looked up in $<ENV>, .tools/bin/<name> or PATH; when missing, `apt-get download` fetches the .deb and
// only usr/bin/<name> is copied to .tools/bin (git-ignored). Nothing is installed, no service is set up.
// Idempotent: a second run finds the binary and changes nothing.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function onPath(name) {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

/**
 * A tool: `name` (the binary), `debianPackage` holding usr/bin/<name>, `envVar` naming an explicit
 * path, and `version(binary)` for the log line.
 */
export function debianTool({ name, debianPackage, envVar, version }) {
  const local = path.join(root, '.tools', 'bin', name);

  function find() {
    if (process.env[envVar]) return fs.existsSync(process.env[envVar]) ? process.env[envVar] : undefined;
    if (fs.existsSync(local)) return local;
    return onPath(name);
  }

  function extract(apt) {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));
    try {
      // apt-get download writes into the current directory as the _apt user: let it.
      fs.chmodSync(work, 0o777);
      apt(['download', debianPackage], { cwd: work });
      const deb = fs.readdirSync(work).find((f) => f.endsWith('.deb'));
      if (!deb) throw new Error(`apt-get download ${debianPackage} left no .deb`);
      execFileSync('dpkg-deb', ['-x', path.join(work, deb), path.join(work, 'x')]);
      fs.mkdirSync(path.dirname(local), { recursive: true });
      fs.copyFileSync(path.join(work, 'x', 'usr', 'bin', name), local);
      fs.chmodSync(local, 0o755);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  }

  /** Finds the tool or extracts it; `apt` runs apt-get with the caller's privileges. Undefined when neither works. */
  function ensure({ apt, log = console.log } = {}) {
    const found = find();
    if (found) {
      log(`${name}: ${found} (${version(found)})`);
      return found;
    }
    if (!onPath('apt-get') || !onPath('dpkg-deb')) {
      log(`${name} is missing and there is no apt-get here: install it yourself and set ${envVar}`);
      return undefined;
    }
    log(`${name}: downloading Debian's ${debianPackage} package (apt-get download ${debianPackage})`);
    extract(apt);
    log(`${name}: ${local} (${version(local)}; extracted from Debian's ${debianPackage} package, nothing installed)`);
    return local;
  }

  return { local, find, ensure };
}

/** Runs `ensure` when the installer script is executed directly, with apt-get as the current user. */
export function runAsScript(moduleUrl, ensure) {
  if (!process.argv[1] || path.resolve(process.argv[1]) !== fileURLToPath(moduleUrl)) return;
  const apt = (args, opts = {}) => execFileSync('apt-get', args, { stdio: 'inherit', ...opts, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (!ensure({ apt })) process.exit(1);
}
