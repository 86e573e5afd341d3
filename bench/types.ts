// The shape of one benchmark run's results (also what bench/results/<timestamp>.json holds).
import type { DropSample } from './drops';
import type { IperfResult } from './iperf';
import type { PingResult } from './ping';

export const PATH_NAMES = [
  'direct',
  'gangway',
  'gangway-nooffload',
  'wireguard',
  'gangway-arm64',
  'gangway-maclike',
  // IPv6 (issue 14): the container's unique-local address, over the veth and through Gangway.
  'direct-ipv6',
  'gangway-ipv6',
  'gangway-1q',
] as const;
export type PathName = (typeof PATH_NAMES)[number];
/** What `npm run bench` measures unless --paths says otherwise: gangway-arm64 (an emulated agent, minutes to
 *  prepare the first time, its speed no measure of a real arm64 VM) only when asked for. */
export const DEFAULT_PATHS: readonly PathName[] = [
  'direct',
  'gangway',
  'gangway-nooffload',
  'wireguard',
  'gangway-maclike',
];

export const PATH_LABELS: Record<PathName, string> = {
  direct: 'direct (veth routing)',
  gangway: 'Gangway (offloads on)',
  'gangway-nooffload': 'Gangway --no-offload',
  wireguard: 'wireguard-go',
  'gangway-arm64': 'Gangway, arm64 agent under qemu (ratio only)',
  'gangway-maclike': 'Gangway, mac-like daemon (1 packet/syscall)',
  'direct-ipv6': 'direct IPv6 (veth routing)',
  'gangway-ipv6': 'Gangway IPv6 (offloads on)',
  'gangway-1q': 'Gangway --queues 1',
};

export interface CpuSample {
  /** CPU seconds the tunnel processes used during the iperf3 run. */
  cpuSeconds: number;
  bytes: number;
  cpuSecondsPerGB: number;
}

/** The whole machine's CPU inside one iperf3 run (bench/cpu.ts machineWindow): both TCP ends, the tunnel and
 *  the kernel's work for them. */
export interface MachineCpuSample {
  busySeconds: number;
  /** Busy plus idle CPU seconds in the window (steal excluded): what the machine could have used. */
  availableSeconds: number;
  /** The rate this run would have reached with every available CPU second at its CPU cost per byte: an upper
   *  bound, since a flow's stages cannot all overlap. */
  ceilingGbps: number;
}

export interface ThroughputSeries {
  streams: number;
  /** The container sends and the host receives (iperf3 -R): a download through the tunnel. */
  reverse?: boolean;
  runs: IperfResult[];
  /** Median receiver throughput over the runs, Gbit/s. */
  medianGbps: number;
  /** CPU of the tunnel processes per run (empty for the direct path). */
  cpu: CpuSample[];
  /** Median of the per-run CPU-s/GB; NaN when there are no tunnel processes. */
  cpuSecondsPerGB: number;
  /** Packets the kernel dropped per run in front of the tunnel (UDP receive queues, TUN queues). */
  drops?: DropSample[];
  /** The whole machine's CPU per run (every path, direct too), and the medians of its busy share and of
   *  the CPU-bound ceiling. Absent in results saved before they were measured. */
  machine?: MachineCpuSample[];
  machineBusyFraction?: number;
  machineCeilingGbps?: number;
}

export interface PathResult {
  name: PathName;
  label: string;
  status: 'ok' | 'failed' | 'skipped';
  error?: string;
  /** The device `ip route get <container>` chose in the host namespace, and its full answer. */
  device?: string;
  routeGet?: string;
  /** Tunnel processes whose CPU is counted (pid, name, threads). */
  processes?: { pid: number; comm: string; threads: number }[];
  info?: Record<string, unknown>;
  oneStream?: ThroughputSeries;
  fourStream?: ThroughputSeries;
  idlePing?: PingResult;
  /** Change of the UDP counters (drops: RcvbufErrors, InErrors) in each namespace over the iperf3 runs. */
  udp?: { host: Record<string, number>; vm: Record<string, number> };
  /** Ping during the 4-stream runs, all runs' replies pooled. */
  loadedPing?: PingResult;
  /** One stream from the container to the host (the download direction), and ping during it. */
  download?: ThroughputSeries;
  downloadPing?: PingResult;
}

export interface BenchResults {
  startedAt: string;
  finishedAt: string;
  host: {
    kernel: string;
    cpus: number;
    node: string;
    loadavgStart: number;
    loadavgEnd: number;
    /** The iperf3 ends' TCP congestion control (the machine's default unless --congestion named one). */
    congestion?: string;
  };
  options: {
    seconds: number;
    runs: number;
    paths: PathName[];
    pings: number;
    mtu: number;
    congestion?: string;
  };
  target: string;
  paths: PathResult[];
  /** Present when a signal or the time bound stopped the run early. */
  aborted?: boolean;
}
