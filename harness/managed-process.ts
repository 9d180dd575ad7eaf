import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';

/** A child process the stack can start, kill (as a crash) and restart, logging to a file. */
export class ManagedProcess {
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  /** The pid held by SIGSTOP, if the current process is stopped. */
  private pausedPid: number | undefined;
  restarts = 0;

  constructor(
    readonly name: string,
    private readonly command: string,
    private readonly args: string[],
    private readonly opts: {
      cwd: string;
      env: Record<string, string | undefined>;
      logFile: string;
      /**
       * Scheduling priority (nice, -20..19), set before the program runs so every thread it starts
       * has it; below 0 needs root (CAP_SYS_NICE). Default: this process's own.
       */
      nice?: number;
      onUnexpectedExit?: (name: string, code: number | null, signal: string | null) => void;
    },
  ) {}

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get running(): boolean {
    return !!this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Alive but held by SIGSTOP. */
  get paused(): boolean {
    return this.running && this.pausedPid === this.proc!.pid;
  }

  start(): void {
    if (this.running) return;
    this.pausedPid = undefined;
    const log = fs.openSync(this.opts.logFile, 'a');
    const [command, args] = this.opts.nice === undefined ? [this.command, this.args] : ['nice', ['-n', String(this.opts.nice), this.command, ...this.args]];
    const proc = spawn(command, args, { cwd: this.opts.cwd, env: { ...process.env, ...this.opts.env }, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.proc = proc;
    let expected = false;
    (proc as ChildProcess & { markExpected?: () => void }).markExpected = () => {
      expected = true;
    };
    this.exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        if (!expected) this.opts.onUnexpectedExit?.(this.name, code, signal);
        resolve();
      });
    });
  }

  private markExpected() {
    (this.proc as (ChildProcess & { markExpected?: () => void }) | undefined)?.markExpected?.();
  }

  /** SIGKILL: no shutdown hooks run, in-flight work is lost — a crash. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.markExpected();
    this.proc!.kill('SIGKILL');
    await this.exited;
  }

  /**
   * SIGSTOP: the process keeps its sockets and leases but runs nothing — a hung or partitioned
   * process whose work the server gives to someone else, and which carries on when resumed.
   */
  pause(): void {
    if (!this.running || this.paused) return;
    this.proc!.kill('SIGSTOP');
    this.pausedPid = this.proc!.pid;
  }

  /** SIGCONT for a process this object paused (a no-op once it was killed or replaced). */
  resume(): void {
    if (this.paused) this.proc!.kill('SIGCONT');
    this.pausedPid = undefined;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. A paused process is resumed first, or SIGTERM would wait. */
  async stop(graceMs = 15000): Promise<void> {
    if (!this.running) return;
    this.markExpected();
    this.resume();
    this.proc!.kill('SIGTERM');
    const timer = setTimeout(() => this.proc?.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  async restart(mode: 'kill' | 'stop' = 'kill'): Promise<void> {
    if (mode === 'kill') await this.kill();
    else await this.stop();
    this.restarts++;
    this.start();
  }
}

/**
 * A nice value for ManagedProcess, checked before anything starts: `nice` itself only warns when it
 * may not lower the value, and the process would then run unprioritised without anyone noticing.
 */
export function checkedNice(value: string, flag: string, isRoot = process.getuid?.() === 0): number {
  const nice = Number(value);
  if (!Number.isInteger(nice) || nice < -20 || nice > 19) throw new Error(`${flag} wants a whole number from -20 to 19, not ${value}`);
  if (nice < 0 && !isRoot) throw new Error(`${flag} ${nice}: a priority above the default needs root (CAP_SYS_NICE)`);
  return nice;
}
