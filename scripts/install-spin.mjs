// Spin, the model checker of model/order-saga.pml (`npm run model-check`, test/model.test.ts).
// From SPIN_PATH, .tools/bin/spin or PATH, else extracted from Debian's `spin` package
// (scripts/debian-tool.mjs). Spin writes a verifier in C (pan.c), compiled with the machine's gcc,
// which also preprocesses the model.
import { execFileSync } from 'node:child_process';
import { debianTool, onPath, runAsScript } from './debian-tool.mjs';

const spin = debianTool({
  name: 'spin',
  debianPackage: 'spin',
  envVar: 'SPIN_PATH',
  version: (bin) => execFileSync(bin, ['-V'], { encoding: 'utf8' }).trim(),
});

export const LOCAL_SPIN = spin.local;
export const findSpin = spin.find;

/** Finds or extracts spin, and says when the C compiler its verifiers need is missing. */
export function ensureSpin(opts) {
  const found = spin.ensure(opts);
  const gcc = process.env.CC ?? 'gcc';
  if (found && !onPath(gcc))
    (opts?.log ?? console.log)(`spin needs a C compiler for its verifiers (and to preprocess the model): ${gcc} is not on PATH (set CC)`);
  return found;
}

runAsScript(import.meta.url, ensureSpin);
