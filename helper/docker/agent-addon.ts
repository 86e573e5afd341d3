// Which native addon goes into the agent image. The agent runs in Docker's Linux VM, so it needs a Linux
// (ELF) build for the VM's CPU, whatever the host is: on a Mac the helper's own addon is a Mach-O file and
// would crash the agent at its first line. Candidates are checked by their ELF header, not by their name.
import { closeSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import type Dockerode from 'dockerode';

export type LinuxArch = 'x86_64' | 'aarch64';

const ELF_MACHINES: Record<number, LinuxArch> = { 62: 'x86_64', 183: 'aarch64' };

/** What a binary is, from its first bytes: a 64-bit little-endian ELF for a known CPU, or something else. */
export function describeBinary(head: Buffer): { elf: LinuxArch | 'other-elf' } | { other: string } {
  if (head.length >= 20 && head.readUInt32BE(0) === 0x7f454c46) {
    const is64le = head[4] === 2 && head[5] === 1;
    const machine = ELF_MACHINES[head.readUInt16LE(18)];
    return { elf: is64le && machine ? machine : 'other-elf' };
  }
  const magic = head.length >= 4 ? head.readUInt32BE(0) : 0;
  if ([0xcffaedfe, 0xcafebabe, 0xfeedfacf].includes(magic)) return { other: 'a macOS (Mach-O) binary' };
  if (head.subarray(0, 2).toString('latin1') === 'MZ') return { other: 'a Windows binary' };
  return { other: 'not a binary' };
}

/** Docker's name for the VM's CPU (`docker info` Architecture) as an ELF machine. */
export function vmArch(dockerArchitecture: string): LinuxArch | undefined {
  const a = dockerArchitecture.toLowerCase();
  if (a === 'x86_64' || a === 'amd64') return 'x86_64';
  if (a === 'aarch64' || a === 'arm64') return 'aarch64';
  return undefined;
}

function readHead(file: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const b = Buffer.alloc(64);
    return b.subarray(0, readSync(fd, b, 0, 64, 0));
  } finally {
    closeSync(fd);
  }
}

/** Where a packaged app keeps Linux builds of the addon, one per CPU. */
export function prebuiltAddonPath(packageRoot: string, arch: LinuxArch): string {
  return path.join(
    packageRoot,
    'prebuilds',
    `linux-${arch === 'x86_64' ? 'x64' : 'arm64'}`,
    'gangway_native.node',
  );
}

/** The first candidate that is a Linux build for `arch`; otherwise an error that says what each one was. */
export function pickAgentAddon(candidates: string[], arch: LinuxArch): string {
  const seen: string[] = [];
  for (const file of candidates) {
    const head = readHead(file);
    if (!head) {
      seen.push(`${file}: missing`);
      continue;
    }
    const kind = describeBinary(head);
    if ('elf' in kind && kind.elf === arch) return file;
    seen.push(`${file}: ${'elf' in kind ? `a Linux build for ${kind.elf}` : kind.other}`);
  }
  throw new Error(
    `no Linux ${arch} build of the native addon for the agent (Docker's VM runs ${arch}); looked at ${seen.join('; ')}. ` +
      'A packaged app carries one in prebuilds/; from a Linux checkout, "npm run build:native" makes it.',
  );
}

/**
 * The CPU the agent will run on. An image runs on its base's platform, so when the engine already has the
 * base image, its architecture decides (the rig's linux/arm64 base on an x86_64 engine, run under qemu);
 * otherwise Docker's VM's (`docker info`), which is also what building then pulls the base for.
 */
export async function agentArch(docker: Dockerode, baseImage: string): Promise<LinuxArch> {
  let reported = '';
  try {
    const base = (await docker.getImage(baseImage).inspect()) as { Architecture?: unknown };
    if (typeof base.Architecture === 'string') reported = base.Architecture;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err;
  }
  if (!reported) {
    const info = (await docker.info()) as { Architecture?: unknown };
    reported = typeof info.Architecture === 'string' ? info.Architecture : '';
  }
  const arch = vmArch(reported);
  if (!arch)
    throw new Error(
      `Docker's VM runs on ${reported || 'an unknown CPU'}; the agent supports x86_64 and aarch64`,
    );
  return arch;
}
