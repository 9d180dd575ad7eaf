// Preloaded into every Node process of the stack by `npm run bench -- --cpu-profile DIR`
// (NODE_OPTIONS=--import <this file>; --cpu-prof itself is not allowed in NODE_OPTIONS).
// While the file DIR/.recording exists (the benchmark creates it for the saga phase and removes it
// afterwards), records a V8 CPU profile; when it disappears, writes DIR/<script>-<pid>.cpuprofile
// (open it in Chrome DevTools or https://www.speedscope.app). A file, not a signal: the Temporal
// worker runtime treats SIGUSR2 as a shutdown signal.
/* global setInterval */
import fs from 'node:fs';
import inspector from 'node:inspector';
import path from 'node:path';

const dir = process.env.CPU_PROFILE_DIR;
if (dir) {
  const flag = path.join(dir, '.recording');
  const script = path.basename(process.argv[process.argv.length - 1] ?? 'node').replace(/\.[a-z]+$/, '');
  const session = new inspector.Session();
  session.connect();
  let recording = false;
  const timer = setInterval(() => {
    const wanted = fs.existsSync(flag);
    if (wanted && !recording) {
      recording = true;
      session.post('Profiler.enable', () => session.post('Profiler.setSamplingInterval', { interval: 1000 }, () => session.post('Profiler.start')));
    } else if (!wanted && recording) {
      recording = false;
      session.post('Profiler.stop', (err, result) => {
        if (!err) fs.writeFileSync(path.join(dir, `${script}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
      });
    }
  }, 250);
  timer.unref();
}
