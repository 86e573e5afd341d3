// `npm run fuzz -- [--seconds N] [target ...]`: builds the addon's fuzz targets (scripts/fuzz-targets.ts) and
// runs each for N seconds (default 60), keeping what they find new in native/build/fuzz/corpus/<target>/ for
// the next run. A failing input is saved in native/build/fuzz/failures/ and named with the command that
// replays it. Exit code 1 when a target failed.
import path from 'node:path';
import { buildFuzzTarget, FUZZ_TARGETS, runFuzzTarget } from './fuzz-targets';

const ROOT = path.resolve(__dirname, '..', '..');
const USAGE = 'usage: npm run fuzz -- [--seconds N] [target ...]';

function parse(args: string[]): { seconds: number; names: string[] } {
  let seconds = 60;
  const names: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--seconds') {
      seconds = Number(args[++i]);
      if (!Number.isInteger(seconds) || seconds < 1 || seconds > 86_400)
        throw new Error(`--seconds takes a whole number from 1 to 86400\n${USAGE}`);
    } else if (FUZZ_TARGETS.some((t) => t.name === a)) {
      names.push(a);
    } else {
      throw new Error(
        `unknown target or option "${a}" (targets: ${FUZZ_TARGETS.map((t) => t.name).join(', ')})\n${USAGE}`,
      );
    }
  }
  return { seconds, names };
}

async function main(): Promise<number> {
  const { seconds, names } = parse(process.argv.slice(2));
  const out = path.join(ROOT, 'native', 'build', 'fuzz');
  let failed = 0;
  for (const target of FUZZ_TARGETS.filter((t) => names.length === 0 || names.includes(t.name))) {
    process.stderr.write(`fuzz ${target.name}: building ...\n`);
    const program = buildFuzzTarget(ROOT, target, path.join(out, 'bin'));
    process.stderr.write(`fuzz ${target.name}: running for ${seconds} s ...\n`);
    const r = await runFuzzTarget(ROOT, target, program, {
      seconds,
      corpusDir: path.join(out, 'corpus', target.name),
      workDir: path.join(out, 'failures'),
    });
    if (r.failure) {
      failed++;
      process.stdout.write(`${r.failure.report}\nfuzz ${target.name}: FAILED after ${r.runs} inputs\n`);
      if (r.failure.input)
        process.stdout.write(`  input: ${r.failure.input}\n  replay: ${program} ${r.failure.input}\n`);
    } else {
      process.stdout.write(`fuzz ${target.name}: ${r.runs} inputs in ${r.seconds} s, no failure\n`);
    }
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fuzz: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
