import { readArgs } from '../bench/peers/run';

// The peers runner's flags: `npm run bench -- --peers --label X` used to fail with
// ERR_PARSE_ARGS_UNKNOWN_OPTION, because the runner parses its own flags and knew no --label.
describe('npm run bench -- --peers flags', () => {
  it('takes --label, as the main benchmark does, and keeps it for the JSON', () => {
    expect(readArgs(['--peers', '--label', 'quiet', '--engines', 'dbos'])).toMatchObject({ label: 'quiet', engines: ['dbos'] });
  });

  it('names the run "peers" without a label, and refuses an unknown engine', () => {
    expect(readArgs(['--peers'])?.label).toBe('peers');
    expect(() => readArgs(['--peers', '--engines', 'kafka'])).toThrow('unknown engine kafka');
  });
});
