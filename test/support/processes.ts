import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

export interface ServiceProcess {
  proc: ChildProcess;
  output(): string;
  /** SIGKILL: no shutdown hooks, no in-flight work finished — a crash. */
  kill(): Promise<void>;
  /** SIGTERM and wait for a clean exit. */
  stop(): Promise<void>;
}

/** Starts one of the project's entry points (e.g. workers/payment-worker.ts) as its own process. */
export function startServiceProcess(file: string, env: Record<string, string>): ServiceProcess {
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, file)], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (d) => (out += d));
  proc.stderr?.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const alive = () => proc.exitCode === null && proc.signalCode === null;
  return {
    proc,
    output: () => out,
    async kill() {
      if (alive()) proc.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (alive()) proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 20000);
      await exited;
      clearTimeout(timer);
    },
  };
}
