// promtool, for the alerting rules' unit tests (test/alerts.test.ts runs `promtool test rules`).
// From PROMTOOL_PATH, .tools/bin/promtool or PATH, else extracted from Debian's `prometheus` package
// (scripts/debian-tool.mjs: the package is not installed, so no Prometheus service is set up).
import { execFileSync } from 'node:child_process';
import { debianTool, runAsScript } from './debian-tool.mjs';

const promtool = debianTool({
  name: 'promtool',
  debianPackage: 'prometheus',
  envVar: 'PROMTOOL_PATH',
  version: (bin) => execFileSync(bin, ['--version'], { encoding: 'utf8' }).split('\n')[0],
});

export const LOCAL_PROMTOOL = promtool.local;
export const findPromtool = promtool.find;
export const ensurePromtool = promtool.ensure;

runAsScript(import.meta.url, ensurePromtool);
