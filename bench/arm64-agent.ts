// The agent as an arm64 program, for `npm run bench -- --paths gangway-arm64`: Apple Silicon's Docker VM is
// linux/arm64, rehearsed here under qemu-user. The agent's JavaScript with the linux-arm64 prebuild, run by
// node's own arm64 build from the rig's arm64 root filesystem (tests/rig/images-arm64.ts; cached), with
// QEMU_LD_PREFIX pointing qemu at that filesystem's libraries (inherited by the agent's children, iptables).
// Emulated: its speed says nothing about a real arm64 VM, so the bench reports a ratio and sets no target.
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BUNDLE_FILES, bundleDir } from '../helper/bundle-dir';
import { DIST, track, type DaemonHandle, type Proc } from '../tests/integration/harness';
import { run } from '../rig/exec';
import { arm64EmulationProblem, ensureArm64Rootfs } from '../rig/images-arm64';
import type { Rig } from '../rig/rig';

const ROOT = resolve(DIST, '..');
const QEMU = '/usr/bin/qemu-aarch64-static';
const BUNDLE = bundleDir();

export class Arm64Agent {
  private constructor(
    private readonly dir: string,
    private readonly rootfs: string,
    private readonly app: string,
  ) {}

  /** Unpacks the arm64 root filesystem and lays out the agent (dist, its packages, the arm64 addon). */
  static async prepare(progress: (m: string) => void): Promise<Arm64Agent> {
    const problem = arm64EmulationProblem();
    if (problem) throw new Error(`cannot run arm64 programs here: ${problem}`);
    const { tarball } = await ensureArm64Rootfs({ progress });
    const dir = mkdtempSync(join(tmpdir(), 'gangway-bench-arm64-'));
    try {
      const rootfs = join(dir, 'root');
      mkdirSync(rootfs);
      await run('tar', ['-xf', tarball, '-C', rootfs], { timeoutMs: 300_000 });
      // The agent's bundle with the linux-arm64 addon beside it, as the agent image lays them out.
      const app = join(dir, 'app');
      mkdirSync(app);
      cpSync(join(BUNDLE, BUNDLE_FILES.agent), join(app, BUNDLE_FILES.agent));
      cpSync(join(ROOT, 'prebuilds', 'linux-arm64', 'gangway_native.node'), join(app, BUNDLE_FILES.addon));
      return new Arm64Agent(dir, rootfs, app);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Starts the agent in the rig's VM namespace, dialling the daemon (as startAgent does natively). */
  start(rig: Rig, daemon: DaemonHandle, extra: string[] = []): Proc {
    const child = rig.spawn(rig.vmNs, 'env', [
      `QEMU_LD_PREFIX=${this.rootfs}`,
      QEMU,
      join(this.rootfs, 'usr', 'local', 'bin', 'node'),
      join(this.app, BUNDLE_FILES.agent),
      '--server',
      `${rig.hostVethIp}:${daemon.port}`,
      '--secret-file',
      join(daemon.stateDir, 'secret'),
      ...extra,
    ]);
    return track(child);
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
