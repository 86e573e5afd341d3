// Checks that each prebuilt addon is what its folder says (`prebuilds/<platform>-<cpu>/gangway_native.node`),
// from the file's own bytes: the Mach-O or ELF magic, the CPU type, the file type (a loadable library), the
// exported `napi_register_module_v1` (what node's dlopen looks for), and on Linux the newest glibc version
// the file asks for (the agent's base image must have it). Run by `npm run prebuilds` and by the unit test.
import { readFileSync } from 'node:fs';
import path from 'node:path';

export type PrebuildTarget = 'darwin-arm64' | 'darwin-x64' | 'linux-x64' | 'linux-arm64';
export const PREBUILD_TARGETS: PrebuildTarget[] = ['darwin-arm64', 'darwin-x64', 'linux-x64', 'linux-arm64'];

/** The newest glibc the agent's base images have (Debian 12: node:24-bookworm-slim, and the rig's). */
export const MAX_GLIBC: [number, number] = [2, 36];

export interface BinaryFacts {
  format: 'mach-o' | 'elf' | 'other';
  /** darwin-arm64 ... for the four targets; otherwise a description of what the file is. */
  target: string;
  /** A library node can dlopen: MH_DYLIB/MH_BUNDLE, or ELF ET_DYN. */
  loadable: boolean;
  exportsNapiRegister: boolean;
  /** Newest GLIBC_x.y the ELF file needs ([0, 0] for none, or for Mach-O). */
  glibc: [number, number];
}

const MH_MAGIC_64 = 0xfeedfacf;
const MACHO_CPUS: Record<number, string> = { 0x0100000c: 'arm64', 0x01000007: 'x64' };
const ELF_CPUS: Record<number, string> = { 62: 'x64', 183: 'arm64' };
const NAPI_REGISTER = 'napi_register_module_v1';

function cstring(b: Buffer, at: number): string {
  const end = b.indexOf(0, at);
  return b.toString('latin1', at, end < 0 ? b.length : end);
}

function inBounds(b: Buffer, offset: number, length: number): boolean {
  return offset >= 0 && length >= 0 && offset + length <= b.length;
}

/** A 64-bit little-endian Mach-O: CPU from the header, exported symbols from LC_SYMTAB. */
function machO(b: Buffer): BinaryFacts {
  const cpu = MACHO_CPUS[b.readUInt32LE(4)];
  const filetype = b.readUInt32LE(12);
  const ncmds = b.readUInt32LE(16);
  let exported = false;
  let at = 32; // sizeof(mach_header_64)
  for (let i = 0; i < ncmds && inBounds(b, at, 8); i++) {
    const cmd = b.readUInt32LE(at);
    const size = b.readUInt32LE(at + 4);
    if (cmd === 0x2 /* LC_SYMTAB */ && inBounds(b, at, 24)) {
      const symoff = b.readUInt32LE(at + 8);
      const nsyms = b.readUInt32LE(at + 12);
      const stroff = b.readUInt32LE(at + 16);
      for (let s = 0; s < nsyms && inBounds(b, symoff + s * 16, 16); s++) {
        const e = symoff + s * 16; // struct nlist_64
        const type = b[e + 4]!;
        // N_EXT and N_TYPE == N_SECT: defined here and visible outside. C names carry a leading '_'.
        if ((type & 0x01) === 0x01 && (type & 0x0e) === 0x0e)
          exported ||= cstring(b, stroff + b.readUInt32LE(e)) === `_${NAPI_REGISTER}`;
      }
    }
    if (size < 8) break;
    at += size;
  }
  return {
    format: 'mach-o',
    target: cpu ? `darwin-${cpu}` : `a Mach-O file for CPU type 0x${b.readUInt32LE(4).toString(16)}`,
    loadable: filetype === 6 /* MH_DYLIB */ || filetype === 8 /* MH_BUNDLE */,
    exportsNapiRegister: exported,
    glibc: [0, 0],
  };
}

/** A 64-bit little-endian ELF: CPU from e_machine, symbols from .dynsym, glibc versions from its strings. */
function elf(b: Buffer): BinaryFacts {
  const is64le = b[4] === 2 && b[5] === 1;
  const machine = b.readUInt16LE(18);
  const cpu = is64le ? ELF_CPUS[machine] : undefined;
  if (!is64le || !cpu)
    return {
      format: 'elf',
      target: `an ELF file for machine ${machine}`,
      loadable: false,
      exportsNapiRegister: false,
      glibc: [0, 0],
    };
  const shoff = Number(b.readBigUInt64LE(40));
  const shentsize = b.readUInt16LE(58);
  const shnum = b.readUInt16LE(60);
  const section = (i: number) => {
    const at = shoff + i * shentsize;
    return {
      type: b.readUInt32LE(at + 4),
      offset: Number(b.readBigUInt64LE(at + 24)),
      size: Number(b.readBigUInt64LE(at + 32)),
      link: b.readUInt32LE(at + 40),
    };
  };
  let exported = false;
  let glibc: [number, number] = [0, 0];
  for (let i = 0; i < shnum && inBounds(b, shoff + i * shentsize, 64); i++) {
    const sh = section(i);
    if (sh.type !== 11 /* SHT_DYNSYM */ || sh.link >= shnum) continue;
    const str = section(sh.link);
    for (let e = sh.offset; e + 24 <= sh.offset + sh.size && inBounds(b, e, 24); e += 24) {
      const info = b[e + 4]!;
      const shndx = b.readUInt16LE(e + 6);
      // Defined (not SHN_UNDEF), global or weak binding.
      if (shndx !== 0 && (info >> 4 === 1 || info >> 4 === 2))
        exported ||= cstring(b, str.offset + b.readUInt32LE(e)) === NAPI_REGISTER;
    }
    // Version needs (GLIBC_2.17 ...) are names in the dynamic string table.
    for (const m of b.toString('latin1', str.offset, str.offset + str.size).matchAll(/GLIBC_(\d+)\.(\d+)/g)) {
      const v: [number, number] = [Number(m[1]), Number(m[2])];
      if (v[0] > glibc[0] || (v[0] === glibc[0] && v[1] > glibc[1])) glibc = v;
    }
  }
  return {
    format: 'elf',
    target: `linux-${cpu}`,
    loadable: b.readUInt16LE(16) === 3 /* ET_DYN */,
    exportsNapiRegister: exported,
    glibc,
  };
}

/** What a file is, read from its bytes. */
export function readBinaryFacts(b: Buffer): BinaryFacts {
  if (b.length >= 64 && b.readUInt32BE(0) === 0x7f454c46) return elf(b);
  if (b.length >= 32 && b.readUInt32LE(0) === MH_MAGIC_64) return machO(b);
  return {
    format: 'other',
    target: 'not a 64-bit Mach-O or ELF file',
    loadable: false,
    exportsNapiRegister: false,
    glibc: [0, 0],
  };
}

/** The problems with `file` as the prebuild for `target`; empty when it is right. */
export function checkPrebuild(file: string, target: PrebuildTarget): string[] {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    return [
      `${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)}): run npm run prebuilds`,
    ];
  }
  const f = readBinaryFacts(bytes);
  const problems: string[] = [];
  if (f.target !== target) problems.push(`${file}: is ${f.target}, not ${target}`);
  if (!f.loadable) problems.push(`${file}: not a shared library node can load`);
  if (!f.exportsNapiRegister) problems.push(`${file}: does not export ${NAPI_REGISTER}`);
  if (f.glibc[0] > MAX_GLIBC[0] || (f.glibc[0] === MAX_GLIBC[0] && f.glibc[1] > MAX_GLIBC[1]))
    problems.push(
      `${file}: needs GLIBC_${f.glibc.join('.')}, newer than the agent base's ${MAX_GLIBC.join('.')}`,
    );
  return problems;
}

export function prebuildPath(root: string, target: PrebuildTarget): string {
  return path.join(root, 'prebuilds', target, 'gangway_native.node');
}

if (require.main === module) {
  // dist/scripts/prebuild-check.js -> the repository root.
  const root = path.resolve(__dirname, '..', '..');
  const args = process.argv.slice(2);
  const targets = args.length ? args : PREBUILD_TARGETS;
  let failed = false;
  for (const t of targets) {
    if (!(PREBUILD_TARGETS as string[]).includes(t)) {
      console.error(`unknown target ${t}; targets: ${PREBUILD_TARGETS.join(' ')}`);
      process.exit(2);
    }
    const file = prebuildPath(root, t as PrebuildTarget);
    const problems = checkPrebuild(file, t as PrebuildTarget);
    for (const p of problems) console.error(`prebuild check: ${p}`);
    if (problems.length) failed = true;
    else {
      const f = readBinaryFacts(readFileSync(file));
      const glibc = f.format === 'elf' ? `, needs glibc ${f.glibc.join('.')}` : '';
      console.log(`prebuilds/${t}: ${f.format} ${f.target}, exports ${NAPI_REGISTER}${glibc}`);
    }
  }
  process.exit(failed ? 1 : 0);
}
