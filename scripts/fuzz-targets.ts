// The addon's fuzz targets (native/fuzz/): the C code that reads what a peer or the kernel hands the pump,
// built with clang's libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer, and run for a bounded time.
// Used by `npm run fuzz` (scripts/fuzz.ts) and tests/unit/native-fuzz.test.ts. Linux only: the targets take
// the Linux offload code, and libFuzzer comes from Debian's clang (libclang-rt-dev).
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';

export interface FuzzTarget {
  /** native/fuzz/fuzz_<name>.c; seeds that once failed: native/fuzz/regressions/<name>/. */
  name: string;
  /** From native/src, with extra compiler arguments for that file where a target needs a seam. */
  sources: Array<string | { file: string; args: string[] }>;
  /** libFuzzer's -max_len: the largest input that still means something to the target. */
  maxLen: number;
}

export const FUZZ_TARGETS: readonly FuzzTarget[] = [
  {
    name: 'offload_write',
    // The TUN write becomes the target's own, which keeps each frame to check.
    sources: [{ file: 'offload_linux.c', args: ['-Dwritev=fuzz_writev'] }, 'checksum.c', 'fq.c', 'aqm.c'],
    maxLen: 8192,
  },
  { name: 'offload_split', sources: ['offload_linux.c', 'checksum.c', 'fq.c', 'aqm.c'], maxLen: 8192 },
  { name: 'fq', sources: ['fq.c', 'aqm.c'], maxLen: 4096 },
  {
    // The harness includes pump_udp2tun.c itself (for its static functions), so it is not listed.
    name: 'udp2tun',
    sources: [
      'pump.c',
      'pump_tun2udp.c',
      'pump_slice.c',
      'offload_linux.c',
      'checksum.c',
      'fq.c',
      'aqm.c',
      'src_filter.c',
      'ctrl_limit.c',
      'sockaddr_util.c',
      'udp_linux.c',
      'udp_each.c',
      'udp_peer.c',
      'flow_steer_linux.c',
      'tun_linux.c',
    ],
    maxLen: 16384,
  },
];

const SANITIZERS = 'address,undefined';
const C_FLAGS = [
  '-std=gnu11',
  '-D_GNU_SOURCE',
  '-g',
  '-O1',
  '-Wall',
  '-Wextra',
  '-Werror',
  '-fno-sanitize-recover=all',
];

function run(file: string, args: string[]): void {
  try {
    execFileSync(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT')
      throw new Error(
        `${file} not found: the fuzz targets need clang and libFuzzer (apt-get install clang libclang-rt-dev; scripts/setup.sh installs them)`,
      );
    throw new Error(`${file} ${args.join(' ')} failed:\n${e.stderr?.toString() ?? e.message}`);
  }
}

/** Builds the target into outDir; returns the program's path. */
export function buildFuzzTarget(root: string, target: FuzzTarget, outDir: string): string {
  mkdirSync(outDir, { recursive: true });
  const src = path.join(root, 'native', 'src');
  const objects = target.sources.map((s) => {
    const { file, args } = typeof s === 'string' ? { file: s, args: [] } : s;
    const obj = path.join(outDir, `${target.name}-${file.replace(/\.c$/, '.o')}`);
    run('clang', [
      `-fsanitize=fuzzer-no-link,${SANITIZERS}`,
      ...C_FLAGS,
      ...args,
      '-c',
      path.join(src, file),
      '-o',
      obj,
    ]);
    return obj;
  });
  const program = path.join(outDir, `fuzz_${target.name}`);
  const harness = path.join(root, 'native', 'fuzz', `fuzz_${target.name}.c`);
  run('clang', [`-fsanitize=fuzzer,${SANITIZERS}`, ...C_FLAGS, harness, ...objects, '-o', program]);
  return program;
}

export interface FuzzRun {
  target: string;
  /** Inputs tried, as libFuzzer counts them (the regressions' replay included). */
  runs: number;
  seconds: number;
  /** Set when an input failed a check or a sanitizer: libFuzzer's report and the saved input. */
  failure?: { report: string; input: string | undefined };
}

/**
 * Replays the target's regression inputs, then fuzzes for `seconds` from them and the inputs kept in
 * `corpusDir` (where new ones go). Every input that fails is saved in `workDir`.
 */
export function runFuzzTarget(
  root: string,
  target: FuzzTarget,
  program: string,
  o: { seconds: number; corpusDir: string; workDir: string },
): Promise<FuzzRun> {
  mkdirSync(o.corpusDir, { recursive: true });
  mkdirSync(o.workDir, { recursive: true });
  const regressions = path.join(root, 'native', 'fuzz', 'regressions', target.name);
  const args = [
    `-max_total_time=${o.seconds}`,
    `-max_len=${target.maxLen}`,
    '-timeout=10',
    '-rss_limit_mb=2048',
    `-artifact_prefix=${o.workDir}${path.sep}`,
    '-print_final_stats=1',
    o.corpusDir,
    ...(existsSync(regressions) ? [regressions] : []),
  ];
  const t0 = Date.now();
  return new Promise((resolve) => {
    // The bound on the whole process: libFuzzer's own stops the fuzzing; this one catches a hang outside it.
    execFile(
      program,
      args,
      { timeout: (o.seconds + 120) * 1000, killSignal: 'SIGKILL', maxBuffer: 256 << 20 },
      (err, _stdout, stderr) => {
        const runs = Number(/stat::number_of_executed_units: *(\d+)/.exec(stderr)?.[1] ?? 0);
        const seconds = Math.round((Date.now() - t0) / 100) / 10;
        if (!err) return resolve({ target: target.name, runs, seconds });
        resolve({
          target: target.name,
          runs,
          seconds,
          failure: {
            report: stderr.split('\n').slice(-60).join('\n'),
            // This run's input, not one an earlier run left in workDir.
            input: /Test unit written to (\S+)/.exec(stderr)?.[1],
          },
        });
      },
    );
  });
}
