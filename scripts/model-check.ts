// `npm run model-check [-- --variant <name> | --generation <name>] [--property <name>]... [--optimize -O0|-Og]`: checks the
// Promela model of the order protocol (model/order-saga.pml) with Spin and prints each property with
// its result, the states explored and the time; a violated property prints its counterexample as a
// story. Exit code 0: every property checked holds; 1: one is violated or could not be checked.
// docs/model.md says what the model covers and how to read a counterexample.
import { parseArgs } from 'node:util';
import { checkModel, checkVariant, formatCounterexample, GENERATIONS, PROPERTIES, VARIANTS, type ModelCheck } from '../model/check';

const USAGE = `Usage: npm run model-check -- [--variant <name> | --generation <name>] [--property <name>]... [--optimize -O0|-Og]

Checks model/order-saga.pml (the order saga as the code runs it) for every property, or the named
ones: the current generation of the saga, or with --generation an older one still running. With
--variant, checks a known-bad variant (a hole put back) for the property it must break, and prints
the counterexample. Verifiers are cached in .tools/model-check.

Generations:
${GENERATIONS.map((g) => `  ${g.name.padEnd(28)} ${g.sagas}`).join('\n')}

Properties:
${PROPERTIES.map((p) => `  ${p.name.padEnd(28)} ${p.kind}: ${p.says}`).join('\n')}

Variants:
${VARIANTS.map((v) => `  ${v.name.padEnd(28)} breaks ${v.breaks}: ${v.hole}`).join('\n')}
`;

function main(): number {
  const { values } = parseArgs({
    options: {
      variant: { type: 'string' },
      generation: { type: 'string', default: GENERATIONS[0]!.name },
      property: { type: 'string', multiple: true },
      optimize: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const optimize = values.optimize as '-O0' | '-Og' | undefined;
  if (optimize !== undefined && !['-O0', '-Og', '-O1', '-O2'].includes(optimize)) throw new TypeError('--optimize takes -O0, -Og, -O1 or -O2');
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const started = Date.now();

  let check: ModelCheck;
  if (values.variant) {
    const variant = VARIANTS.find((v) => v.name === values.variant);
    if (!variant) throw new TypeError(`no variant ${values.variant}; known: ${VARIANTS.map((v) => v.name).join(', ')}`);
    log(`Known-bad variant ${variant.name} (-D${variant.defines.join(' -D')}): ${variant.hole}`);
    log(`It must break ${variant.breaks}.`);
    check = values.property
      ? checkModel(variant.defines, values.property, { log, ...(optimize ? { optimize } : {}) })
      : checkVariant(variant.name, { log, ...(optimize ? { optimize } : {}) });
  } else {
    const generation = GENERATIONS.find((g) => g.name === values.generation);
    if (!generation) throw new TypeError(`no generation ${values.generation}; known: ${GENERATIONS.map((g) => g.name).join(', ')}`);
    const switches = generation.defines.length ? generation.defines.map((d) => `-D${d}`).join(' ') : 'no -D switches';
    log(`Model check of model/order-saga.pml (the fixed saga, generation ${generation.name}: ${switches}): ${generation.sagas}`);
    // The whole check runs pan once per property (liveness twice over): a slower compile that makes pan twice as fast pays off.
    check = checkModel(generation.defines, values.property ?? PROPERTIES.map((p) => p.name), { log, optimize: optimize ?? '-Og' });
  }

  let failed = 0;
  for (const result of check.results) {
    if (result.holds && result.complete) continue;
    failed++;
    const property = PROPERTIES.find((p) => p.name === result.property)!;
    log('');
    if (!result.complete) {
      log(`${result.property} could not be checked completely:\n${result.output ?? ''}`);
      continue;
    }
    log(`${result.property} is VIOLATED (${property.says}). Counterexample:`);
    if (result.counterexample) log(formatCounterexample(result.counterexample));
  }
  const total = ((Date.now() - started) / 1000).toFixed(1);
  log('');
  log(
    failed === 0
      ? `All ${check.results.length} properties hold (${total} s in all, compile included).`
      : `${failed} of ${check.results.length} properties violated or unchecked (${total} s in all).`,
  );
  if (values.variant) {
    const broke = check.results.some((r) => !r.holds && r.complete);
    log(broke ? 'The known-bad variant is caught, as it must be.' : 'The known-bad variant was NOT caught: the model no longer sees this hole.');
  }
  return failed === 0 ? 0 : 1;
}

try {
  process.exitCode = main();
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 2;
}
