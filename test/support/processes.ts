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

/**
 * Runs an entry point with exactly `env` (nothing inherited) until it exits, SIGKILLed after 30 s:
 * its exit code and everything it printed. For processes that must refuse to start.
 */
export async function runToExit(file: string, env: NodeJS.ProcessEnv, args: string[] = []): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, file), ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += String(d)));
  child.stderr!.on('data', (d) => (output += String(d)));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearTimeout(timer);
  return { code, output };
}

/** SIGKILLs each still-running child's whole process group (spawned `detached`) and waits for it to exit. */
export async function killProcessGroups(children: ChildProcess[]): Promise<void> {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      process.kill(-child.pid, 'SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
  }
}
