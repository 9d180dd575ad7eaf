import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChaosSummary } from '../harness/chaos';
import { FAULT_KINDS } from '../harness/chaos';

// The short chaos run: the real CLI (`npm run chaos`) with a few hundred orders and every kind of
// fault, as its own process tree (it crashes and restarts Postgres, Temporal and the workers).
describe('chaos: order and payment never disagree while the stack is attacked', () => {
  it('300 orders, every fault kind: 0 violations, 0 lost, 0 double charges', async () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'chaos-test-')), 'summary.json');
    const args = ['--import', 'tsx', 'scripts/chaos.ts', '--orders', '300', '--rate', '10', '--seed', '7', '--fault-every', '2.5', '--window', '15', '--recovery', '240', '--workers', '1', '--json', out];
    const { code, output } = await new Promise<{ code: number; output: string }>((resolve) => {
      const child = execFile(process.execPath, args, { cwd: path.resolve(__dirname, '..'), maxBuffer: 64 * 1024 * 1024, timeout: 12 * 60 * 1000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` }),
      );
      child.stdin?.end();
    });
    if (code !== 0 || !fs.existsSync(out)) throw new Error(`chaos run failed (${code}):\n${output.slice(-6000)}`);
    const summary = JSON.parse(fs.readFileSync(out, 'utf8')) as ChaosSummary;
    expect(summary.ordersPlaced).toBeGreaterThanOrEqual(290);
    for (const kind of FAULT_KINDS) expect(summary.faultsInjected[kind]).toBeGreaterThanOrEqual(1);
    expect(summary.violations).toBe(0);
    expect(summary.lostOrders).toBe(0);
    expect(summary.doubleCharges).toBe(0);
    expect(summary.pspMismatches).toBe(0);
    expect(summary.duplicateMismatches).toBe(0);
    // The run exercised the paths it claims to.
    expect(summary.finalStates.CONFIRMED).toBeGreaterThan(100);
    expect(summary.finalStates.REJECTED).toBeGreaterThan(0);
    expect(summary.finalStates.CANCELLED).toBeGreaterThan(0);
    expect(summary.duplicatePosts).toBeGreaterThan(0);
    expect(summary.raceActions).toBeGreaterThan(0);
  }, 15 * 60 * 1000);
});
