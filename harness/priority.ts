import fs from 'node:fs';
import os from 'node:os';

// Scheduling priority for processes the harness did not spawn itself (Postgres's postmaster and its
// backends): a load harness on one small machine can put a part of the stack ahead of the rest, as
// machines of its own would in production. Linux only (/proc).

/** The parent pid of each live process, from /proc/<pid>/stat. */
function parentPids(): Map<number, number> {
  const parents = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(entry), ppid);
    } catch {
      // exited meanwhile
    }
  }
  return parents;
}

/**
 * Sets `nice` on a running process, every thread of it and every descendant it has now; what it
 * starts later inherits the value (a postmaster's new backends). Returns the threads set.
 */
export function reniceProcessTree(pid: number, nice: number): number {
  const parents = parentPids();
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) for (const [child, parent] of parents) if (parent === tree[i]) tree.push(child);
  let threads = 0;
  for (const p of tree) {
    let tids: string[];
    try {
      tids = fs.readdirSync(`/proc/${p}/task`);
    } catch {
      continue; // exited meanwhile
    }
    for (const tid of tids) {
      try {
        os.setPriority(Number(tid), nice);
        threads++;
      } catch (err) {
        // A thread that exited meanwhile: Node reports it as ERR_SYSTEM_ERROR with the errno in info.
        if ((err as { info?: { code?: string } }).info?.code !== 'ESRCH') throw err;
      }
    }
  }
  return threads;
}
