import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';

/** A child process the stack can start, kill (as a crash) and restart, logging to a file. */
export class ManagedProcess {
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  restarts = 0;

  constructor(
    readonly name: string,
    private readonly command: string,
    private readonly args: string[],
    private readonly opts: { cwd: string; env: Record<string, string | undefined>; logFile: string; onUnexpectedExit?: (name: string, code: number | null, signal: string | null) => void },
  ) {}

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get running(): boolean {
    return !!this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  start(): void {
    if (this.running) return;
    const log = fs.openSync(this.opts.logFile, 'a');
    const proc = spawn(this.command, this.args, { cwd: this.opts.cwd, env: { ...process.env, ...this.opts.env }, stdio: ['ignore', log, log] });
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

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 15000): Promise<void> {
    if (!this.running) return;
    this.markExpected();
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
