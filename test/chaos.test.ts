import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FAULT_KINDS } from '../harness/chaos/plan';
import type { ChaosSummary } from '../harness/chaos/summary';

// The short chaos run: the real CLI (`npm run chaos`) with a few hundred orders and every kind of
// fault, as its own process tree (it crashes, pauses and restarts Postgres, Temporal, the PSP, the
// API and the workers, and cancels and terminates sagas as an operator would).
describe('chaos: order and payment never disagree while the stack is attacked', () => {
  it(
    '300 orders, every fault kind: 0 violations, 0 lost, 0 double charges, reconciler pass clean',
    async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaos-test-'));
      const out = path.join(dir, 'summary.json');
      const args = [
        '--import',
        'tsx',
        'scripts/chaos.ts',
        '--orders',
        '300',
        '--rate',
        '10',
        '--seed',
        '7',
        '--fault-every',
        '2.5',
        '--window',
        '15',
        '--recovery',
        '240',
        '--workers',
        '1',
        '--slow-psp-seconds',
        '15',
        '--reconcile-timeout',
        '60',
        '--json',
        out,
      ];
      const { code, output } = await new Promise<{ code: number; output: string }>((resolve) => {
        const child = execFile(
          process.execPath,
          args,
          { cwd: path.resolve(__dirname, '..'), maxBuffer: 64 * 1024 * 1024, timeout: 13 * 60 * 1000 },
          (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` }),
        );
        child.stdin?.end();
      });
      // A run that found problems still writes its summary: assert on it, so the failure says what.
      if (!fs.existsSync(out)) throw new Error(`chaos run failed (${code}) without a summary:\n${output.slice(-6000)}`);
      const summary = JSON.parse(fs.readFileSync(out, 'utf8')) as ChaosSummary;
      process.stdout.write(`chaos summary: ${out} (kept when the test fails)\n`);

      expect(summary.ordersPlaced).toBeGreaterThanOrEqual(290);
      expect(FAULT_KINDS.filter((k) => !(summary.faultsInjected[k]! >= 1))).toEqual([]);
      // The operator faults reached sagas (not only refusals).
      expect(Object.values(summary.operator.cancelRequested).reduce((a, b) => a + b, 0) + summary.operator.terminated).toBeGreaterThan(0);

      // Every invariant at once, so a failure lists all that broke (with the summary's own examples).
      expect({
        violations: summary.violations,
        violationsByKind: summary.violationsByKind,
        lostOrders: summary.lostOrders,
        lostOrdersByStatus: summary.lostOrdersByStatus,
        openAfterReconciler: summary.openAfterReconciler,
        reconcilerError: summary.reconciler.error,
        reconcilerOk: summary.reconciler.ok,
        doubleCharges: summary.doubleCharges,
        pspMismatches: summary.pspMismatches,
        duplicateMismatches: summary.duplicateMismatches,
        duplicateOrders: summary.duplicateOrders,
        unexpectedExits: summary.unexpectedExits,
      }).toEqual({
        violations: 0,
        violationsByKind: {},
        lostOrders: 0,
        lostOrdersByStatus: {},
        openAfterReconciler: 0,
        reconcilerError: undefined,
        reconcilerOk: true,
        doubleCharges: 0,
        pspMismatches: 0,
        duplicateMismatches: 0,
        duplicateOrders: 0,
        unexpectedExits: [],
      });
      expect(code).toBe(0);
      // Every CONFIRMED order was captured at the PSP, counted from its settlement report (kills included).
      expect(summary.pspCaptures).toBeGreaterThanOrEqual(summary.finalStates.CONFIRMED ?? 0);

      // The run exercised the paths it claims to.
      expect(summary.finalStates.CONFIRMED).toBeGreaterThan(100);
      expect(summary.finalStates.REJECTED).toBeGreaterThan(0);
      expect(summary.finalStates.CANCELLED).toBeGreaterThan(0);
      expect(summary.duplicatePosts).toBeGreaterThan(0);
      expect(summary.raceActions).toBeGreaterThan(0);
      fs.rmSync(dir, { recursive: true, force: true });
    },
    15 * 60 * 1000,
  );
});
