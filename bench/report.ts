// The Markdown report: one table row per path, the ratios Gangway/direct and Gangway/wireguard-go, and
// the targets (PASS/MISS; informative only, never an exit code).
import { formatDropLines } from './drops';
import type { PathName, PathResult, ThroughputSeries } from './types';

export const TARGETS = {
  /** Single stream at least this fraction of direct routing. */
  vsDirect: 0.3,
  /** Single stream at least this many times wireguard-go. */
  vsWireguard: 8,
  /** At most this many ms added to direct's idle RTT p50 (issue #15.3). */
  addedIdleP50Ms: 0.15,
  /** p99 RTT under 4-stream load at most this, and no ping lost (issue #15.2). */
  loadedP99Ms: 5,
  loadedLossPct: 0,
  /** gangway-maclike (one packet per syscall, as on a Mac): single stream at least this many times wireguard-go. */
  maclikeVsWireguard: 3,
  /** Issue #15 item 1 ("more than one stream"): 1 stream and 4 streams against direct's same count. */
  streams1VsDirect: 0.6,
  streams4VsDirect: 0.5,
} as const;

export interface TargetCheck {
  path: PathName;
  name: string;
  value: number;
  limit: string;
  pass: boolean | null;
}

const fmt = (x: number | undefined, digits: number) =>
  x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits);

function find(paths: readonly PathResult[], name: PathName): PathResult | undefined {
  return paths.find((p) => p.name === name && p.status === 'ok');
}

export function formatTable(paths: readonly PathResult[]): string {
  const direct = find(paths, 'direct')?.oneStream?.medianGbps;
  // IPv6 rows compare with direct IPv6 routing over the same veth.
  const direct6 = find(paths, 'direct-ipv6')?.oneStream?.medianGbps;
  const lines = [
    '| path | route dev | 1-stream Gbit/s | ×direct | 4-stream Gbit/s | idle RTT p50 / p99 ms | loaded RTT p99 ms | CPU-s/GB | download Gbit/s | download RTT p99 ms |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const p of paths) {
    if (p.status !== 'ok') {
      lines.push(
        `| ${p.label} | ${p.device ?? '–'} | ${p.status}: ${oneLine(p.error ?? '')} | | | | | | | |`,
      );
      continue;
    }
    const one = p.oneStream?.medianGbps;
    const base = p.name.endsWith('-ipv6') ? direct6 : direct;
    const ratio = one !== undefined && base ? one / base : NaN;
    lines.push(
      `| ${p.label} | ${p.device ?? '–'} | ${fmt(one, 2)} | ${fmt(ratio, 2)} | ${fmt(p.fourStream?.medianGbps, 2)} | ` +
        `${fmt(p.idlePing?.p50Ms, 3)} / ${fmt(p.idlePing?.p99Ms, 3)} | ${fmt(p.loadedPing?.p99Ms, 2)}${lossNote(p.loadedPing?.lossPct)} | ` +
        `${fmt(p.oneStream?.cpuSecondsPerGB, 1)} | ${fmt(p.download?.medianGbps, 2)} | ` +
        `${fmt(p.downloadPing?.p99Ms, 2)}${lossNote(p.downloadPing?.lossPct)} |`,
    );
  }
  return lines.join('\n');
}

function lossNote(lossPct: number | undefined): string {
  return lossPct !== undefined && lossPct > 0 ? ` (${lossPct.toFixed(1)}% lost)` : '';
}

function oneLine(s: string): string {
  const first = s.split('\n')[0] ?? '';
  return (first.length > 120 ? `${first.slice(0, 117)}...` : first).replace(/\|/g, '\\|');
}

/** The Gangway rows' ratios to direct and to wireguard-go, one line each. */
export function formatRatios(paths: readonly PathResult[]): string[] {
  const out: string[] = [];
  const direct = find(paths, 'direct');
  const wg = find(paths, 'wireguard');
  for (const name of [
    'gangway',
    'gangway-nooffload',
    'gangway-arm64',
    'gangway-maclike',
    'gangway-1q',
  ] as const) {
    const g = find(paths, name);
    if (!g) continue;
    const parts: string[] = [];
    for (const [other, label] of [
      [direct, 'direct'],
      [wg, 'wireguard-go'],
    ] as const) {
      if (!other) continue;
      const r1 = (g.oneStream?.medianGbps ?? NaN) / (other.oneStream?.medianGbps ?? NaN);
      const r4 = (g.fourStream?.medianGbps ?? NaN) / (other.fourStream?.medianGbps ?? NaN);
      const rd = (g.download?.medianGbps ?? NaN) / (other.download?.medianGbps ?? NaN);
      let s = `${g.label} / ${label}: 1 stream ${fmt(r1, 2)}×, 4 streams ${fmt(r4, 2)}×`;
      if (Number.isFinite(rd)) s += `, download ${fmt(rd, 2)}×`;
      if (other.oneStream && Number.isFinite(other.oneStream.cpuSecondsPerGB)) {
        s += `, CPU-s/GB ${fmt(g.oneStream!.cpuSecondsPerGB / other.oneStream.cpuSecondsPerGB, 2)}×`;
      }
      parts.push(s);
    }
    out.push(...parts);
  }
  const g6 = find(paths, 'gangway-ipv6');
  const d6 = find(paths, 'direct-ipv6');
  if (g6 && d6) {
    const r1 = (g6.oneStream?.medianGbps ?? NaN) / (d6.oneStream?.medianGbps ?? NaN);
    const r4 = (g6.fourStream?.medianGbps ?? NaN) / (d6.fourStream?.medianGbps ?? NaN);
    out.push(`${g6.label} / direct IPv6: 1 stream ${fmt(r1, 2)}×, 4 streams ${fmt(r4, 2)}×`);
  }
  return out;
}

/** Checks the targets for each Gangway row present. `pass` is null when a needed path was not measured. */
export function checkTargets(paths: readonly PathResult[]): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const direct = find(paths, 'direct');
  const wg = find(paths, 'wireguard');
  for (const name of ['gangway', 'gangway-nooffload'] as const) {
    const g = find(paths, name);
    if (!g) continue;
    const one = g.oneStream?.medianGbps ?? NaN;
    const vsDirect = direct ? one / (direct.oneStream?.medianGbps ?? NaN) : NaN;
    const vsWg = wg ? one / (wg.oneStream?.medianGbps ?? NaN) : NaN;
    const added = direct ? (g.idlePing?.p50Ms ?? NaN) - (direct.idlePing?.p50Ms ?? NaN) : NaN;
    const loaded = g.loadedPing?.p99Ms ?? NaN;
    const ok = (v: number, test: (v: number) => boolean) => (Number.isFinite(v) ? test(v) : null);
    checks.push(
      {
        path: name,
        name: '1 stream vs direct',
        value: vsDirect,
        limit: `≥ ${TARGETS.vsDirect}×`,
        pass: ok(vsDirect, (v) => v >= TARGETS.vsDirect),
      },
      {
        path: name,
        name: '1 stream vs wireguard-go',
        value: vsWg,
        limit: `≥ ${TARGETS.vsWireguard}×`,
        pass: ok(vsWg, (v) => v >= TARGETS.vsWireguard),
      },
      {
        path: name,
        name: 'idle RTT p50 added to direct',
        value: added,
        limit: `≤ ${TARGETS.addedIdleP50Ms} ms`,
        pass: ok(added, (v) => v <= TARGETS.addedIdleP50Ms),
      },
      {
        path: name,
        name: 'RTT p99 under 4-stream load',
        value: loaded,
        limit: `≤ ${TARGETS.loadedP99Ms} ms`,
        pass: ok(loaded, (v) => v <= TARGETS.loadedP99Ms),
      },
      {
        path: name,
        name: 'pings lost under 4-stream load',
        value: g.loadedPing?.lossPct ?? NaN,
        limit: `≤ ${TARGETS.loadedLossPct} %`,
        pass: ok(g.loadedPing?.lossPct ?? NaN, (v) => v <= TARGETS.loadedLossPct),
      },
    );
  }
  checks.push(...checkMaclike(paths));
  checks.push(...streamTargets(paths));
  return checks;
}

interface StreamTarget {
  name: 'gangway' | 'gangway-1q';
  streams: 1 | 4;
  limit: number;
  gangway: ThroughputSeries | undefined;
  direct: ThroughputSeries | undefined;
}

/** Issue #15 item 1's pairs: the default path and its one-queue twin, each stream count against direct's. */
function streamPairs(paths: readonly PathResult[]): StreamTarget[] {
  const direct = find(paths, 'direct');
  const out: StreamTarget[] = [];
  for (const name of ['gangway', 'gangway-1q'] as const) {
    const g = find(paths, name);
    if (!g) continue;
    for (const [streams, limit] of [
      [1, TARGETS.streams1VsDirect],
      [4, TARGETS.streams4VsDirect],
    ] as const) {
      const pick = (p: PathResult | undefined) => (streams === 1 ? p?.oneStream : p?.fourStream);
      out.push({ name, streams, limit, gangway: pick(g), direct: pick(direct) });
    }
  }
  return out;
}

const streamsLabel = (n: number) => `${n} stream${n > 1 ? 's' : ''}`;

function streamTargets(paths: readonly PathResult[]): TargetCheck[] {
  return streamPairs(paths).map((t) => {
    const value = (t.gangway?.medianGbps ?? NaN) / (t.direct?.medianGbps ?? NaN);
    return {
      path: t.name,
      name: `${streamsLabel(t.streams)} vs direct (#15.1)`,
      value,
      limit: `≥ ${t.limit}×`,
      pass: Number.isFinite(value) ? value >= t.limit : null,
    };
  });
}

/** gangway-maclike has one target: its single stream against wireguard-go's, measured in the same run. */
function checkMaclike(paths: readonly PathResult[]): TargetCheck[] {
  const g = find(paths, 'gangway-maclike');
  if (!g) return [];
  const wg = find(paths, 'wireguard');
  const vsWg = wg ? (g.oneStream?.medianGbps ?? NaN) / (wg.oneStream?.medianGbps ?? NaN) : NaN;
  return [
    {
      path: 'gangway-maclike',
      name: '1 stream vs wireguard-go',
      value: vsWg,
      limit: `≥ ${TARGETS.maclikeVsWireguard}×`,
      pass: Number.isFinite(vsWg) ? vsWg >= TARGETS.maclikeVsWireguard : null,
    },
  ];
}

export function formatTargets(checks: readonly TargetCheck[]): string[] {
  const byPath = new Map<PathName, TargetCheck[]>();
  for (const c of checks) byPath.set(c.path, [...(byPath.get(c.path) ?? []), c]);
  const lines: string[] = [];
  for (const [path, cs] of byPath) {
    const items = cs.map((c) => {
      const unit = c.limit.endsWith('ms') ? ' ms' : c.limit.endsWith('%') ? ' %' : '×';
      const digits = unit === ' ms' ? 3 : unit === ' %' ? 1 : 2;
      const verdict = c.pass === null ? 'n/a' : c.pass ? 'PASS' : 'MISS';
      return `${c.name} ${fmt(c.value, digits)}${Number.isFinite(c.value) ? unit : ''} (${c.limit}) ${verdict}`;
    });
    lines.push(`Targets, ${path}: ${items.join('; ')}`);
  }
  return lines;
}

/**
 * Whether the machine's CPU leaves the #15.1 targets within reach at the tunnel's present cost per byte: for
 * each stream count, how busy the machine was, and the ceiling (the rate with every available CPU second spent
 * at that run's cost per byte, an upper bound) as a fraction of direct routing's rate. A ceiling under the
 * target means no scheduling or threading change can reach it; only fewer CPU cycles per byte can.
 */
export function formatCeilings(paths: readonly PathResult[]): string[] {
  const lines: string[] = [];
  for (const { name, streams, limit, gangway: gs, direct: ds } of streamPairs(paths)) {
    const ceiling = gs?.machineCeilingGbps;
    const busy = gs?.machineBusyFraction;
    if (!gs || !ds || ceiling === undefined || busy === undefined || !Number.isFinite(ceiling)) continue;
    const ratio = ceiling / ds.medianGbps;
    const verdict =
      ratio >= limit
        ? 'within reach'
        : `out of reach unless the CPU per byte falls by ${fmt(100 * (1 - ratio / limit), 0)}%`;
    const directBusy = ds.machineBusyFraction;
    lines.push(
      `CPU ceiling, ${name}, ${streamsLabel(streams)}: machine ${fmt(100 * busy, 0)}% busy ` +
        `at ${fmt(gs.medianGbps, 2)} Gbit/s (direct ${fmt(ds.medianGbps, 2)}` +
        `${directBusy !== undefined ? ` at ${fmt(100 * directBusy, 0)}%` : ''}); with every CPU at this cost ` +
        `per byte at most ${fmt(ceiling, 2)} Gbit/s = ${fmt(ratio, 2)}× direct (target ${limit}×): ${verdict}`,
    );
  }
  return lines;
}

export function formatReport(paths: readonly PathResult[]): string {
  const ratios = formatRatios(paths);
  const targets = formatTargets(checkTargets(paths));
  const ceilings = formatCeilings(paths);
  const drops = formatDropLines(paths);
  return [
    formatTable(paths),
    '',
    ...(ratios.length ? ratios : ['(no Gangway row measured: no ratios)']),
    '',
    ...(targets.length ? targets : ['Targets: n/a (no Gangway row measured)']),
    ...(ceilings.length ? ['', ...ceilings] : []),
    ...(drops.length ? ['', ...drops] : []),
  ].join('\n');
}
