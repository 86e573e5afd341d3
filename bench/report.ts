// The Markdown report: one table row per path, the ratios Gangway/direct and Gangway/wireguard-go, and
// the targets (PASS/MISS; informative only, never an exit code).
import type { PathName, PathResult } from './types';

export const TARGETS = {
  /** Single stream at least this fraction of direct routing. */
  vsDirect: 0.3,
  /** Single stream at least this many times wireguard-go. */
  vsWireguard: 8,
  /** At most this many ms added to direct's idle RTT p50. */
  addedIdleP50Ms: 0.1,
  /** p99 RTT under 4-stream load below this. */
  loadedP99Ms: 10,
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
  const lines = [
    '| path | route dev | 1-stream Gbit/s | ×direct | 4-stream Gbit/s | idle RTT p50 / p99 ms | loaded RTT p99 ms | CPU-s/GB |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const p of paths) {
    if (p.status !== 'ok') {
      lines.push(`| ${p.label} | ${p.device ?? '–'} | ${p.status}: ${oneLine(p.error ?? '')} | | | | | |`);
      continue;
    }
    const one = p.oneStream?.medianGbps;
    const ratio = one !== undefined && direct ? one / direct : NaN;
    lines.push(
      `| ${p.label} | ${p.device ?? '–'} | ${fmt(one, 2)} | ${fmt(ratio, 2)} | ${fmt(p.fourStream?.medianGbps, 2)} | ` +
        `${fmt(p.idlePing?.p50Ms, 3)} / ${fmt(p.idlePing?.p99Ms, 3)} | ${fmt(p.loadedPing?.p99Ms, 2)}${lossNote(p.loadedPing?.lossPct)} | ` +
        `${fmt(p.oneStream?.cpuSecondsPerGB, 1)} |`,
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
  for (const name of ['gangway', 'gangway-nooffload', 'gangway-arm64', 'gangway-1q'] as const) {
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
      let s = `${g.label} / ${label}: 1 stream ${fmt(r1, 2)}×, 4 streams ${fmt(r4, 2)}×`;
      if (other.oneStream && Number.isFinite(other.oneStream.cpuSecondsPerGB)) {
        s += `, CPU-s/GB ${fmt(g.oneStream!.cpuSecondsPerGB / other.oneStream.cpuSecondsPerGB, 2)}×`;
      }
      parts.push(s);
    }
    out.push(...parts);
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
        limit: `< ${TARGETS.loadedP99Ms} ms`,
        pass: ok(loaded, (v) => v < TARGETS.loadedP99Ms),
      },
    );
  }
  checks.push(...streamTargets(paths));
  return checks;
}

/** Issue #15 item 1, for the default path and its one-queue twin: each stream count against direct's. */
function streamTargets(paths: readonly PathResult[]): TargetCheck[] {
  const direct = find(paths, 'direct');
  const checks: TargetCheck[] = [];
  for (const name of ['gangway', 'gangway-1q'] as const) {
    const g = find(paths, name);
    if (!g) continue;
    for (const [streams, limit] of [
      [1, TARGETS.streams1VsDirect],
      [4, TARGETS.streams4VsDirect],
    ] as const) {
      const pick = (p: PathResult | undefined) => (streams === 1 ? p?.oneStream : p?.fourStream)?.medianGbps;
      const value = (pick(g) ?? NaN) / (pick(direct) ?? NaN);
      checks.push({
        path: name,
        name: `${streams} stream${streams > 1 ? 's' : ''} vs direct (#15.1)`,
        value,
        limit: `≥ ${limit}×`,
        pass: Number.isFinite(value) ? value >= limit : null,
      });
    }
  }
  return checks;
}

export function formatTargets(checks: readonly TargetCheck[]): string[] {
  const byPath = new Map<PathName, TargetCheck[]>();
  for (const c of checks) byPath.set(c.path, [...(byPath.get(c.path) ?? []), c]);
  const lines: string[] = [];
  for (const [path, cs] of byPath) {
    const items = cs.map((c) => {
      const unit = c.limit.endsWith('ms') ? ' ms' : '×';
      const digits = unit === ' ms' ? 3 : 2;
      const verdict = c.pass === null ? 'n/a' : c.pass ? 'PASS' : 'MISS';
      return `${c.name} ${fmt(c.value, digits)}${Number.isFinite(c.value) ? unit : ''} (${c.limit}) ${verdict}`;
    });
    lines.push(`Targets, ${path}: ${items.join('; ')}`);
  }
  return lines;
}

export function formatReport(paths: readonly PathResult[]): string {
  const ratios = formatRatios(paths);
  const targets = formatTargets(checkTargets(paths));
  return [
    formatTable(paths),
    '',
    ...(ratios.length ? ratios : ['(no Gangway row measured: no ratios)']),
    '',
    ...(targets.length ? targets : ['Targets: n/a (no Gangway row measured)']),
  ].join('\n');
}
