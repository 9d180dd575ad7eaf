import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

// The alerting rules (ops/prometheus/alerts.yml), unit-tested with Prometheus's own promtool
// (`promtool test rules`, ops/prometheus/alerts.test.yml): every alert firing and not firing.
// promtool comes from `npm run setup` (.tools/bin, extracted from Debian's prometheus package),
// PROMTOOL_PATH or PATH. Without it this test fails and says so; it never skips.

const ROOT = path.resolve(__dirname, '..');
const RULES = path.join(ROOT, 'ops', 'prometheus', 'alerts.yml');
const TESTS = path.join(ROOT, 'ops', 'prometheus', 'alerts.test.yml');

function promtool(): string {
  const candidates = [process.env.PROMTOOL_PATH, path.join(ROOT, '.tools', 'bin', 'promtool')].filter((p): p is string => Boolean(p));
  const found = candidates.find((p) => fs.existsSync(p)) ?? (spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' }).stdout.trim() || undefined);
  if (!found)
    throw new Error("promtool is missing: run `npm run setup` (it extracts promtool from Debian's prometheus package into .tools/bin), or set PROMTOOL_PATH");
  return found;
}

interface Rule {
  alert?: string;
  expr: string;
  annotations?: Record<string, string>;
}

const rules = (parse(fs.readFileSync(RULES, 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((g) => g.rules);
const alertNames = [...new Set(rules.map((r) => r.alert!))];

describe('Prometheus alerting rules', () => {
  it('are valid rules (promtool check rules)', () => {
    const out = execFileSync(promtool(), ['check', 'rules', RULES], { encoding: 'utf8' });
    expect(out).toMatch(new RegExp(`SUCCESS: ${rules.length} rules found`));
  });

  it('fire and stay quiet as their unit tests say (promtool test rules)', () => {
    const run = spawnSync(promtool(), ['test', 'rules', TESTS], { encoding: 'utf8' });
    expect({ status: run.status, output: `${run.stdout}${run.stderr}` }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
  });

  it('every alert has a summary, a runbook section, and a unit test that shows it firing and one that shows it quiet', () => {
    const runbook = fs.readFileSync(path.join(ROOT, 'docs', 'runbook.md'), 'utf8');
    const anchors = new Set([...runbook.matchAll(/^## (\S+)/gm)].map((m) => m[1]!.toLowerCase()));
    const tests = (
      parse(fs.readFileSync(TESTS, 'utf8')) as { tests: Array<{ alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }> }> }
    ).tests.flatMap((t) => t.alert_rule_test);
    for (const rule of rules) {
      expect({ alert: rule.alert, summary: typeof rule.annotations?.summary }).toEqual({ alert: rule.alert, summary: 'string' });
      expect(rule.annotations?.runbook).toBe(`docs/runbook.md#${rule.alert!.toLowerCase()}`);
    }
    for (const name of alertNames) {
      expect({ name, section: anchors.has(name.toLowerCase()) }).toEqual({ name, section: true });
      const cases = tests.filter((t) => t.alertname === name);
      expect({ name, firing: cases.some((c) => c.exp_alerts.length > 0), quiet: cases.some((c) => c.exp_alerts.length === 0) }).toEqual({
        name,
        firing: true,
        quiet: true,
      });
    }
  });

  it('use only metrics the processes export (the names in workers, activities, the projector and the Temporal SDK)', () => {
    const sources = ['workers/open-orders-metrics.ts', 'activities/saga-metrics.ts', 'db/projector/metrics.ts']
      .map((f) => fs.readFileSync(path.join(ROOT, f), 'utf8'))
      .join('\n');
    // The SDK's names are those the dashboard already uses (test/observability.test.ts scrapes them).
    const dashboard = fs.readFileSync(path.join(ROOT, 'ops', 'grafana', 'dashboards', 'delivery-order-saga.json'), 'utf8');
    const used = new Set(rules.flatMap((r) => [...r.expr.matchAll(/\b([a-z_][a-z0-9_]*)(?=\{|\[)/g)].map((m) => m[1]!.replace(/_(bucket|count|sum)$/, ''))));
    for (const name of used) {
      const known = name.startsWith('temporal_') ? dashboard.includes(name) : sources.includes(`'${name}'`);
      expect({ name, known }).toEqual({ name, known: true });
    }
  });

  it('Prometheus loads them (prometheus.yml rule_files, mounted by the compose monitoring profile) and Grafana shows the firing ones', () => {
    const prom = parse(fs.readFileSync(path.join(ROOT, 'ops', 'prometheus', 'prometheus.yml'), 'utf8')) as { rule_files: string[] };
    expect(prom.rule_files).toEqual(['/etc/prometheus/alerts.yml']);
    const compose = parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
      services: Record<string, { volumes?: string[] }>;
    };
    expect(compose.services.prometheus!.volumes).toContain('./ops/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro');
    const dashboard = JSON.parse(fs.readFileSync(path.join(ROOT, 'ops', 'grafana', 'dashboards', 'delivery-order-saga.json'), 'utf8'));
    const exprs: string[] = dashboard.panels.flatMap((p: { targets?: Array<{ expr: string }> }) => (p.targets ?? []).map((t) => t.expr));
    expect(exprs).toContain('ALERTS{alertstate="firing"}');
  });
});
