// Freezing Docker's whole VM, as Docker Desktop's Pause or a sleeping Mac does: every process in the VM namespace
// (dockerd, containerd, the shims, the agent with --net host) and every process in the rig dockerd's cgroup
// (containers in their own network namespaces) gets SIGSTOP; thaw() sends SIGCONT to exactly those.
import { readdir, readFile } from 'node:fs/promises';
import { run } from './exec';
import type { Rig } from './rig';

export interface Frozen {
  pids: number[];
  thaw(): void;
}

/** Pids of the VM: its network namespace's processes and those in `cgroupMark` (e.g. /gangway-rig-<id>/). */
export async function vmProcesses(rig: Rig, cgroupMark: string): Promise<number[]> {
  const { stdout } = await run('ip', ['netns', 'pids', rig.vmNs], { allowFail: true });
  const pids = new Set(stdout.split(/\s+/).filter(Boolean).map(Number));
  for (const p of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(p)) continue;
    const cg = await readFile(`/proc/${p}/cgroup`, 'utf8').catch(() => '');
    if (cg.includes(cgroupMark)) pids.add(Number(p));
  }
  pids.delete(process.pid);
  return [...pids].sort((a, b) => a - b);
}

function signal(pids: number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      // gone meanwhile
    }
  }
}

export async function freezeVm(rig: Rig, cgroupMark: string): Promise<Frozen> {
  const pids = await vmProcesses(rig, cgroupMark);
  signal(pids, 'SIGSTOP');
  return { pids, thaw: () => signal(pids, 'SIGCONT') };
}
