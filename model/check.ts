// Builds and runs the Spin model checker on model/order-saga.pml: `npm run model-check`
// (scripts/model-check.ts) and test/model.test.ts. docs/model.md says what the model covers.
//
// One verifier (pan) is built per set of -D switches and cached under .tools/model-check/<hash>/
// (the hash covers the model's text, the switches, the compiler flags and spin's version), so a
// second check of an unchanged model compiles nothing. Each property is then one run of that pan
// (`-N <property>`). A violated property is replayed (`spin -t`) into the story the model prints:
// its steps and faults in order.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
export const MODEL_FILE = path.join(ROOT, 'model', 'order-saga.pml');
const MODEL_NAME = 'order-saga.pml';
const CACHE = path.join(ROOT, '.tools', 'model-check');
/** Verifiers kept in the cache (about 1.5 MB each); the least recently used go first. */
const CACHE_ENTRIES = 32;

export type PropertyKind = 'safety' | 'liveness';

export interface Property {
  name: string;
  kind: PropertyKind;
  says: string;
}

/** The properties of model/order-saga.pml (its `ltl` blocks), in the order they are checked. */
export const PROPERTIES: readonly Property[] = [
  { name: 'money', kind: 'safety', says: 'a final order at rest agrees with the PSP: CONFIRMED is one capture, anything else keeps nothing' },
  { name: 'nodouble', kind: 'safety', says: 'the PSP never captures twice' },
  { name: 'ticketagrees', kind: 'safety', says: 'a final order at rest agrees with its ticket: CONFIRMED is ACCEPTED, anything else leaves none open' },
  {
    name: 'capturetruth',
    kind: 'safety',
    says: 'a saga failing with PAYMENT_CAPTURE_FAILED is right: the PSP never captured',
  },
  { name: 'ends', kind: 'liveness', says: 'every placed order becomes final' },
  { name: 'holdreleased', kind: 'liveness', says: 'every hold at the PSP is released or captured' },
  { name: 'settles', kind: 'liveness', says: 'every order becomes final with nothing left running: runs, attempts, PSP requests, repairs' },
];

/**
 * The generations of the saga still running, each a set of switches: every property must hold for each.
 * A saga keeps the steps of the code it started with (patched()), so an older generation's runs go on
 * after a deploy until they end.
 */
export interface Generation {
  name: string;
  defines: string[];
  sagas: string;
}

export const GENERATIONS: readonly Generation[] = [
  { name: 'current', defines: [], sagas: 'sagas started since patch hold-and-ticket-together: the hold with the ticket, the capture with acceptTicket' },
  {
    name: 'steps-in-sequence',
    defines: ['STEPS_IN_SEQUENCE'],
    sagas: 'sagas started before patch hold-and-ticket-together (since compensations-registered-first): every step in sequence',
  },
];

export interface Variant {
  name: string;
  /** The -D switches of model/order-saga.pml that put the hole back. */
  defines: string[];
  /** The property the hole breaks. */
  breaks: string;
  hole: string;
  /**
   * How to search for it: a safety hole is searched breadth-first by default (its first trail is a
   * shortest story), a liveness hole depth-first (the only way pan finds cycles).
   */
  search?: Search;
}

/**
 * The known-bad controls: each puts a hole back, and the check must find it. Each hole was in code that
 * ran every step in sequence, and is checked in that generation (STEPS_IN_SEQUENCE; REGISTER_LATE
 * implies it), where its search is short: the current generation's state space is eight times larger.
 */
export const VARIANTS: readonly Variant[] = [
  {
    name: 'trust-row',
    defines: ['STEPS_IN_SEQUENCE', 'TRUST_ROW'],
    breaks: 'money',
    hole: 'compensations act on the local payments row instead of asking the PSP first',
  },
  {
    name: 'no-reconciler',
    defines: ['STEPS_IN_SEQUENCE', 'NO_RECONCILER'],
    breaks: 'ends',
    hole: 'no reconciler: the order of a terminated saga is never repaired',
  },
  {
    name: 'cancellable-after-decision',
    defines: ['STEPS_IN_SEQUENCE', 'CANCELLABLE_AFTER_DECISION'],
    breaks: 'money',
    hole: "capture, acceptTicket and confirmOrder stay in the cancellable scope: an operator's cancel lands after the capture",
  },
  {
    name: 'capture-refusal-trusted',
    defines: ['STEPS_IN_SEQUENCE', 'CAPTURE_REFUSAL_TRUSTED'],
    breaks: 'capturetruth',
    hole: 'a capture refused with an error fails the saga without asking the PSP whether it captured',
  },
  {
    name: 'register-late',
    defines: ['REGISTER_LATE'],
    breaks: 'money',
    hole: 'compensations registered just before their own steps: a later run that fails early leaves the earlier run’s hold',
  },
  {
    name: 'sweeper-restarts',
    defines: ['STEPS_IN_SEQUENCE', 'SWEEPER_RESTARTS'],
    breaks: 'ticketagrees',
    hole: 'the sweeper restarts a terminated saga at once: a compensation of the old run still in flight cancels the new run’s ticket',
    // The variant's state space is 14 times its generation's; depth-first finds the hole in a second.
    search: 'dfs',
  },
  {
    name: 'before-issue-21',
    defines: ['REGISTER_LATE', 'SWEEPER_RESTARTS'],
    breaks: 'money',
    hole: 'the code before issue 21: compensations registered late, and the sweeper restarting a terminated saga at once',
    // Depth-first finds it in seconds, and its trail is the one the model first showed (a timed-out
    // markAwaitingRestaurant); breadth-first explores 23 million states for a shorter one.
    search: 'dfs',
  },
];

export interface Tools {
  spin: string;
  cc: string;
}

function onPath(name: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() || undefined : undefined;
}

/** spin from SPIN_PATH, .tools/bin (npm run setup) or PATH, and the C compiler (CC or gcc); throws with what to do. */
export function findTools(): Tools {
  const candidates = [process.env.SPIN_PATH, path.join(ROOT, '.tools', 'bin', 'spin')].filter((p): p is string => Boolean(p));
  const spin = candidates.find((p) => fs.existsSync(p)) ?? onPath('spin');
  if (!spin) throw new Error("spin is missing: run `npm run setup` (it extracts spin from Debian's spin package into .tools/bin), or set SPIN_PATH");
  const cc = process.env.CC ?? 'gcc';
  if (!onPath(cc)) throw new Error(`the model check compiles spin's verifier with a C compiler: ${cc} is not on PATH (set CC)`);
  return { spin, cc };
}

export type Search = 'dfs' | 'bfs';

export interface BuildOptions {
  /** dfs: every property (liveness needs it); bfs: safety only, but a violation's trail is a shortest one. */
  search?: Search;
  /** gcc's optimization: -O0 compiles in seconds, -Og takes longer and then runs about twice as fast. */
  optimize?: '-O0' | '-Og' | '-O1' | '-O2';
  log?: (line: string) => void;
}

export interface Build {
  dir: string;
  pan: string;
  defines: string[];
  search: Search;
  cflags: string[];
  /** Seconds spent in spin -a and gcc; 0 when the verifier came from the cache. */
  compileSeconds: number;
  cached: boolean;
  tools: Tools;
}

function seconds(since: bigint): number {
  return Number(process.hrtime.bigint() - since) / 1e9;
}

/** Builds (or takes from the cache) the verifier for one set of switches. */
export function buildPan(defines: readonly string[], options: BuildOptions = {}): Build {
  const tools = findTools();
  const search = options.search ?? 'dfs';
  const sorted = [...new Set(defines)].sort();
  const cflags = [
    '-w',
    options.optimize ?? '-O0',
    // COLLAPSE: states are stored compressed (a tenth of the memory, a little slower).
    '-DCOLLAPSE',
    '-DMEMLIM=8000',
    ...(search === 'bfs' ? ['-DBFS'] : ['-DNFAIR=4']),
  ];
  const model = fs.readFileSync(MODEL_FILE);
  const spinVersion = execFileSync(tools.spin, ['-V'], { encoding: 'utf8' }).trim();
  const key = createHash('sha256')
    .update(model)
    .update(JSON.stringify({ sorted, cflags, spinVersion, cc: tools.cc }))
    .digest('hex')
    .slice(0, 16);
  const dir = path.join(CACHE, key);
  const pan = path.join(dir, 'pan');
  const base = { dir, pan, defines: sorted, search, cflags, tools };
  if (fs.existsSync(pan)) {
    const now = new Date();
    fs.utimesSync(dir, now, now);
    return { ...base, compileSeconds: 0, cached: true };
  }

  fs.mkdirSync(CACHE, { recursive: true });
  const work = fs.mkdtempSync(path.join(CACHE, 'build-'));
  const started = process.hrtime.bigint();
  try {
    fs.writeFileSync(path.join(work, MODEL_NAME), model);
    const dflags = sorted.map((d) => `-D${d}`);
    options.log?.(`building the verifier: spin -a ${[...dflags, MODEL_NAME].join(' ')} && ${tools.cc} ${cflags.join(' ')} -o pan pan.c`);
    run(tools.spin, ['-a', ...dflags, MODEL_NAME], work);
    run(tools.cc, [...cflags, '-o', 'pan', 'pan.c'], work);
    for (const f of fs.readdirSync(work)) if (f.startsWith('pan.') || f.startsWith('_spin')) fs.rmSync(path.join(work, f));
    try {
      fs.renameSync(work, dir);
    } catch {
      // Another process built the same verifier meanwhile: keep theirs.
      fs.rmSync(work, { recursive: true, force: true });
    }
    pruneCache();
  } catch (err) {
    fs.rmSync(work, { recursive: true, force: true });
    throw err;
  }
  return { ...base, compileSeconds: seconds(started), cached: false };
}

/** Keeps the CACHE_ENTRIES most recently used verifiers (a build in progress is never removed). */
function pruneCache(): void {
  const entries = fs
    .readdirSync(CACHE, { withFileTypes: true })
    .filter((d) => d.isDirectory() && /^[0-9a-f]{16}$/.test(d.name))
    .map((d) => ({ dir: path.join(CACHE, d.name), used: fs.statSync(path.join(CACHE, d.name)).mtimeMs }))
    .sort((a, b) => b.used - a.used);
  for (const { dir } of entries.slice(CACHE_ENTRIES)) fs.rmSync(dir, { recursive: true, force: true });
}

function run(cmd: string, args: string[], cwd: string): string {
  const result = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${result.status ?? result.signal}):\n${result.stdout}${result.stderr}`);
  return result.stdout + result.stderr;
}

export interface Counterexample {
  /** The model's printf lines along the trail: the steps and faults in order. */
  story: string[];
  /** The services' state where the trail ends. */
  end: Record<string, string>;
  /** For liveness: the story's lines from here on repeat for ever (-1: the run ends in a state no one leaves). */
  cycleStartsAt: number;
  steps: number;
}

export interface PropertyResult {
  property: string;
  kind: PropertyKind;
  holds: boolean;
  /** false when pan could not explore everything (memory, depth): then `holds` proves nothing. */
  complete: boolean;
  states: number;
  /** Liveness: states visited (the nested search sees states twice). */
  visited: number;
  depth: number;
  seconds: number;
  /** none: every execution; weak: executions in which no process stays enabled for ever without moving. */
  fairness: 'none' | 'weak';
  note?: string;
  counterexample?: Counterexample;
  /** pan's output, kept when the run was not complete or failed. */
  output?: string;
}

export interface CheckOptions {
  log?: (line: string) => void;
  /** Safety violations are searched again breadth-first for a shortest story (a second build). Default true. */
  shortest?: boolean;
}

const KEEP_VALUES = ['order', 'ticket', 'pay', 'psp', 'captures', 'runs', 'repairDone'];

/** Runs one property against a verifier; a violation comes back with its story. */
export function checkProperty(build: Build, propertyName: string, options: CheckOptions = {}): PropertyResult {
  const property = PROPERTIES.find((p) => p.name === propertyName);
  if (!property) throw new Error(`no property ${propertyName} (the model has ${PROPERTIES.map((p) => p.name).join(', ')})`);
  if (property.kind === 'liveness' && build.search === 'bfs') throw new Error(`${propertyName} is a liveness property: it needs a dfs build`);

  if (property.kind === 'safety') {
    const result = runPan(build, property, false);
    if (!result.holds && result.complete && build.search === 'dfs' && options.shortest !== false) {
      // The depth-first trail wanders; the breadth-first one is a shortest story of the same violation.
      options.log?.(`  ${property.name} is violated: searching again breadth-first for a shortest counterexample`);
      const bfs = buildPan(build.defines, { search: 'bfs', log: options.log });
      const shortest = runPan(bfs, property, false);
      if (!shortest.holds && shortest.counterexample)
        return { ...result, counterexample: shortest.counterexample, note: 'the story is a shortest trail (breadth-first)' };
    }
    return result;
  }

  // Liveness. Weak fairness (-f) multiplies the search by about the number of processes. A property
  // that holds for every execution holds for the fair ones, so the search without fairness comes
  // first; only a counterexample found there is searched again under weak fairness, to tell a real
  // one from a schedule that starves a process that could move.
  const unfair = runPan(build, property, false);
  if (unfair.holds || !unfair.complete) {
    return unfair.holds ? { ...unfair, note: 'holds for every execution, so also under weak fairness' } : unfair;
  }
  const fair = runPan(build, property, true);
  if (fair.holds && fair.complete) {
    return { ...fair, note: 'holds under weak fairness (only unfair executions break it: a process enabled for ever that never moves)' };
  }
  return fair;
}

function runPan(build: Build, property: Property, fair: boolean): PropertyResult {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'model-check-'));
  try {
    const args = [...(property.kind === 'liveness' ? ['-a'] : []), ...(fair ? ['-f'] : []), '-N', property.name, '-m100000', '-n'];
    const started = process.hrtime.bigint();
    const pan = spawnSync(build.pan, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    const wall = seconds(started);
    const output = `${pan.stdout}${pan.stderr}`;
    const errors = Number(/errors: (\d+)/.exec(output)?.[1] ?? NaN);
    const stored = /([\d.e+]+) states, stored(?: \(([\d.e+]+) visited\))?/.exec(output);
    const depth = Number(/depth reached (\d+)/.exec(output)?.[1] ?? 0);
    const elapsed = Number(/elapsed time ([\d.e+-]+) seconds/.exec(output)?.[1] ?? wall);
    const incomplete = /Search not completed|max search depth too small|out of memory|error: /i.test(output) || Number.isNaN(errors);
    const result: PropertyResult = {
      property: property.name,
      kind: property.kind,
      holds: errors === 0,
      complete: !incomplete || errors > 0,
      states: Number(stored?.[1] ?? 0),
      visited: Number(stored?.[2] ?? stored?.[1] ?? 0),
      depth,
      seconds: elapsed,
      fairness: fair ? 'weak' : 'none',
    };
    if (!result.complete) result.output = output;
    if (errors > 0) {
      const trail = path.join(cwd, `${MODEL_NAME}.trail`);
      if (!fs.existsSync(trail)) return { ...result, output };
      fs.copyFileSync(path.join(build.dir, MODEL_NAME), path.join(cwd, MODEL_NAME));
      const replay = spawnSync(build.tools.spin, ['-t', '-T', ...build.defines.map((d) => `-D${d}`), MODEL_NAME], {
        cwd,
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      });
      result.counterexample = storyOf(`${replay.stdout}${replay.stderr}`);
    }
    return result;
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true });
  }
}

/** The printf lines of a `spin -t -T` replay, and where the trail ends. */
export function storyOf(replay: string): Counterexample {
  const story: string[] = [];
  const end: Record<string, string> = {};
  let cycleStartsAt = -1;
  let steps = 0;
  for (const line of replay.split('\n')) {
    const value = /^\t\t(\w+) = (\S+)$/.exec(line);
    if (value) {
      if (KEEP_VALUES.includes(value[1]!)) end[value[1]!] = value[2]!;
      continue;
    }
    const ends = /^spin: trail ends after (\d+) steps/.exec(line);
    if (ends) steps = Number(ends[1]);
    if (/START OF CYCLE/.test(line)) {
      cycleStartsAt = story.length;
      continue;
    }
    if (
      line.trim() === '' ||
      line.startsWith('\t') ||
      /^(ltl |Never claim|spin: |#processes|warning: |using statement merging|\s*\d+:\s+proc\s|\s*\d+ process(es)? created)/.test(line)
    )
      continue;
    story.push(line.replace(/\s+$/, ''));
  }
  return { story, end, cycleStartsAt, steps };
}

/** A counterexample as the runner prints it: the story, the cycle marked, the end state. */
export function formatCounterexample(cx: Counterexample, indent = '    '): string {
  const lines: string[] = [];
  cx.story.forEach((line, i) => {
    if (i === cx.cycleStartsAt) lines.push(`${indent}--- from here on, for ever: ---`);
    lines.push(`${indent}${line}`);
  });
  if (cx.cycleStartsAt === cx.story.length) lines.push(`${indent}--- from here on, for ever: nothing more happens ---`);
  const end = Object.entries(cx.end)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  lines.push(`${indent}(trail of ${cx.steps} steps; at its end: ${end})`);
  return lines.join('\n');
}

export function formatResult(r: PropertyResult): string {
  const verdict = !r.complete ? 'INCOMPLETE' : r.holds ? 'holds' : 'VIOLATED';
  const states = r.kind === 'liveness' ? `${r.states} states (${r.visited} visited)` : `${r.states} states`;
  const fairness = r.kind === 'liveness' ? (r.fairness === 'weak' ? ', weak fairness' : ', no fairness') : '';
  return `${r.property.padEnd(13)} ${verdict.padEnd(10)} ${states}, depth ${r.depth}, ${r.seconds.toFixed(1)} s${fairness}${r.note ? `: ${r.note}` : ''}`;
}

export interface ModelCheck {
  build: Build;
  results: PropertyResult[];
}

/** Builds once for `defines` and checks `properties` (all by default) with it. */
export function checkModel(
  defines: readonly string[] = [],
  properties: readonly string[] = PROPERTIES.map((p) => p.name),
  options: CheckOptions & BuildOptions = {},
): ModelCheck {
  const build = buildPan(defines, options);
  options.log?.(build.cached ? `verifier: ${build.pan} (cached)` : `verifier: built in ${build.compileSeconds.toFixed(1)} s (${build.cflags.join(' ')})`);
  const results: PropertyResult[] = [];
  for (const name of properties) {
    const result = checkProperty(build, name, options);
    options.log?.(formatResult(result));
    results.push(result);
  }
  return { build, results };
}

/** Checks the property a known-bad variant breaks; the result should be a violation with its story. */
export function checkVariant(name: string, options: CheckOptions & BuildOptions = {}): ModelCheck & { variant: Variant } {
  const variant = VARIANTS.find((v) => v.name === name);
  if (!variant) throw new Error(`no variant ${name} (known: ${VARIANTS.map((v) => v.name).join(', ')})`);
  const kind = PROPERTIES.find((p) => p.name === variant.breaks)!.kind;
  const search = variant.search ?? (kind === 'safety' ? 'bfs' : 'dfs');
  return { variant, ...checkModel(variant.defines, [variant.breaks], { search, shortest: false, ...options }) };
}
