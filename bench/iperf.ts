// iperf3: a one-off server in the container namespace, the client in the host namespace with -J, and
// the parsing of its JSON report.
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nsRun, waitFor } from '../rig/exec';
import type { Rig } from '../rig/rig';

export interface IperfResult {
  streams: number;
  seconds: number;
  /** Receiver-side throughput (what arrived), bits per second. */
  bitsPerSecond: number;
  /** Bytes the receiver got. */
  bytes: number;
  sentBytes: number;
  retransmits: number;
}

interface IperfJson {
  error?: string;
  start?: { test_start?: { num_streams?: number; duration?: number } };
  end?: {
    sum_sent?: { bytes?: number; bits_per_second?: number; retransmits?: number; seconds?: number };
    sum_received?: { bytes?: number; bits_per_second?: number; seconds?: number };
  };
}

/** Parses `iperf3 -c ... -J` output. Throws with iperf3's own message when the test failed. */
export function parseIperfJson(text: string): IperfResult {
  let j: IperfJson;
  try {
    j = JSON.parse(text) as IperfJson;
  } catch (err) {
    throw new Error(`iperf3 did not print JSON (${(err as Error).message}): ${text.slice(0, 200)}`);
  }
  if (j.error) throw new Error(`iperf3: ${j.error}`);
  const sent = j.end?.sum_sent;
  const recv = j.end?.sum_received;
  if (!recv || typeof recv.bits_per_second !== 'number' || typeof recv.bytes !== 'number') {
    throw new Error('iperf3 JSON has no end.sum_received');
  }
  return {
    streams: j.start?.test_start?.num_streams ?? 1,
    seconds: recv.seconds ?? j.start?.test_start?.duration ?? NaN,
    bitsPerSecond: recv.bits_per_second,
    bytes: recv.bytes,
    sentBytes: sent?.bytes ?? NaN,
    retransmits: sent?.retransmits ?? 0,
  };
}

const CC_DIR = '/proc/sys/net/ipv4';

/** The congestion control the iperf3 ends will use: `asked` if the kernel offers it, else the machine's default
 *  (which the rig's namespaces inherit). */
export function checkCongestion(asked: string | undefined, dir = CC_DIR): string {
  const read = (f: string) => readFileSync(join(dir, f), 'utf8').trim();
  if (asked === undefined) return read('tcp_congestion_control');
  const available = read('tcp_available_congestion_control').split(/\s+/);
  if (!available.includes(asked))
    throw new Error(`--congestion ${asked}: this kernel offers ${available.join(', ')}`);
  return asked;
}

/** `reverse`: the server (in the container) sends and the client receives (`-R`): a download to the host.
 *  `congestion`: both ends' TCP congestion control (`-C`; iperf3 passes it to the server). */
export function clientArgs(
  ip: string,
  port: number,
  seconds: number,
  streams: number,
  reverse = false,
  congestion?: string,
): string[] {
  return [
    ...(reverse ? ['-R'] : []),
    ...(congestion ? ['-C', congestion] : []),
    '-c',
    ip,
    '-p',
    String(port),
    '-t',
    String(seconds),
    '-P',
    String(streams),
    '-J',
    '--connect-timeout',
    '3000',
  ];
}

/** Starts `iperf3 -s -1` in `ns` and resolves once it listens. The rig kills it on teardown anyway. */
export async function startServer(rig: Rig, ns: string, port: number): Promise<ChildProcess> {
  const server = rig.spawn(ns, 'iperf3', ['-s', '-1', '-p', String(port), '--idle-timeout', '60']);
  server.stdout?.resume();
  server.stderr?.resume();
  try {
    await waitFor(
      `iperf3 server listening on :${port}`,
      async () => {
        if (server.exitCode !== null) throw new Error(`iperf3 -s exited with ${server.exitCode}`);
        const r = await nsRun(ns, 'ss', ['-Hltn', `sport = :${port}`], { allowFail: true });
        return r.stdout.trim().length > 0;
      },
      5_000,
      50,
    );
  } catch (err) {
    server.kill('SIGKILL');
    throw err;
  }
  return server;
}

/** Ends a server that is still running (e.g. the client failed to connect). */
export async function stopServer(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((r) => server.once('exit', r));
  const grace = setTimeout(() => server.kill('SIGKILL'), 2_000);
  if (
    !(await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 1_000))]))
  ) {
    server.kill('SIGTERM');
  }
  await exited;
  clearTimeout(grace);
}

/** One iperf3 TCP test from `clientNs` to `ip` (server in `serverNs`), or from `ip` with `reverse`. */
export async function runIperf(
  rig: Rig,
  clientNs: string,
  serverNs: string,
  ip: string,
  opts: {
    seconds: number;
    streams: number;
    port?: number;
    reverse?: boolean;
    congestion?: string | undefined;
    onClientStart?: () => void;
  },
): Promise<IperfResult> {
  const port = opts.port ?? 5201;
  const server = await startServer(rig, serverNs, port);
  try {
    opts.onClientStart?.();
    const r = await nsRun(
      clientNs,
      'iperf3',
      clientArgs(ip, port, opts.seconds, opts.streams, opts.reverse, opts.congestion),
      {
        allowFail: true,
        timeoutMs: (opts.seconds + 20) * 1000,
      },
    );
    return parseIperfJson(r.stdout);
  } finally {
    await stopServer(server);
  }
}
