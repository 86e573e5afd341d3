// Which names exist under the suffix, and what they resolve to: a pure function of the running containers,
// the routed networks and the suffix, rebuilt whenever one of them changes.
//
// Names, all lower-case, for a container on at least one routed network:
//   <container>.<suffix>                      its Docker name ("web" -> web.gangway.internal)
//   <service>.<project>.<suffix>              Compose service (all replicas: every address)
//   <n>.<service>.<project>.<suffix>          Compose replica number n (com.docker.compose.container-number)
//   <alias>.<suffix>                          a network alias (--network-alias), on that network's address only
//   <name>.<suffix>                           each name in the dev.gangway.name label (comma-separated)
// A name two containers claim resolves to all their addresses and is listed as a collision. Only addresses
// on routed networks are answered: the host cannot reach the others.
import { contains, parseCidr, parseIp, type Cidr } from '../../common/cidr';

export const CUSTOM_NAME_LABEL = 'dev.gangway.name';
export const COMPOSE_PROJECT = 'com.docker.compose.project';
export const COMPOSE_SERVICE = 'com.docker.compose.service';
export const COMPOSE_NUMBER = 'com.docker.compose.container-number';

export interface ContainerNetwork {
  network: string;
  ipv4: string | null;
  ipv6: string | null;
  aliases: string[];
}

export interface ContainerRecord {
  id: string;
  /** Without Docker's leading "/". */
  name: string;
  labels: Record<string, string>;
  networks: ContainerNetwork[];
}

export interface RoutedNetwork {
  name: string;
  /** The network's subnets that are routed (PTR answers for addresses in them). */
  subnets: string[];
}

export type Lookup =
  { kind: 'refused' } | { kind: 'nxdomain' } | { kind: 'found'; a: string[]; aaaa: string[]; ptr: string[] };

interface Entry {
  a: Set<string>;
  aaaa: Set<string>;
  containers: Set<string>;
}

const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** A relative name (one or more labels) made DNS-safe, or undefined when it cannot be. */
export function toRelativeName(raw: string): string | undefined {
  const s = raw.trim().toLowerCase().replace(/\.$/, '');
  if (!s || s.length > 200) return undefined;
  const labels = s.split('.');
  return labels.every((l) => LABEL.test(l)) ? labels.join('.') : undefined;
}

/** "10.1.2.3" -> "3.2.1.10.in-addr.arpa"; IPv6 in nibbles under ip6.arpa. */
export function reverseName(ip: string): string | undefined {
  const p = parseIp(ip);
  if (!p) return undefined;
  if (p.family === 4) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
  const hex = p.value.toString(16).padStart(32, '0');
  return `${[...hex].reverse().join('.')}.ip6.arpa`;
}

/** "3.2.1.10.in-addr.arpa" -> the address, or undefined when it is not a full reverse name. */
export function addressOfReverse(labels: string[]): { family: 4 | 6; value: bigint } | undefined {
  const l = labels.map((x) => x.toLowerCase());
  const n = l.length;
  if (n === 6 && l[4] === 'in-addr' && l[5] === 'arpa') {
    const octets = l.slice(0, 4).reverse();
    if (!octets.every((o) => /^(0|[1-9]\d{0,2})$/.test(o) && Number(o) < 256)) return undefined;
    return parseIp(octets.join('.'));
  }
  if (n === 34 && l[32] === 'ip6' && l[33] === 'arpa') {
    const nib = l.slice(0, 32);
    if (!nib.every((x) => /^[0-9a-f]$/.test(x))) return undefined;
    return { family: 6, value: BigInt(`0x${nib.reverse().join('')}`) };
  }
  return undefined;
}

function isReverseZone(labels: string[]): boolean {
  const l = labels.map((x) => x.toLowerCase());
  const tail = l.slice(-2).join('.');
  return tail === 'in-addr.arpa' || tail === 'ip6.arpa';
}

export class NameTable {
  readonly suffix: string;
  private readonly names = new Map<string, Entry>();
  /** Every name and every ancestor of one, up to the suffix: these exist (NODATA rather than NXDOMAIN). */
  private readonly nodes = new Set<string>();
  private readonly ptr = new Map<string, Set<string>>();
  private readonly reverseScope: Cidr[];
  private readonly perContainer = new Map<string, string[]>();

  constructor(suffix: string, containers: ContainerRecord[], routed: RoutedNetwork[]) {
    this.suffix = suffix.toLowerCase();
    this.nodes.add(this.suffix);
    const routedNames = new Set(routed.map((n) => n.name));
    this.reverseScope = routed.flatMap((n) => n.subnets.map(parseCidr).filter((c): c is Cidr => !!c));
    for (const c of [...containers].sort((x, y) => (x.name < y.name ? -1 : 1))) {
      const nets = c.networks.filter((n) => routedNames.has(n.network));
      const all = { a: nets.map((n) => n.ipv4), aaaa: nets.map((n) => n.ipv6) };
      if (!nets.some((n) => n.ipv4 || n.ipv6)) continue;
      const given: string[] = [];
      const add = (rel: string | undefined, addrs = all) => {
        if (!rel) return;
        const fqdn = `${rel}.${this.suffix}`;
        if (fqdn.length > 253) return;
        this.addName(fqdn, c.id, addrs);
        if (!given.includes(fqdn)) given.push(fqdn);
      };
      add(toRelativeName(c.name));
      const project = toRelativeName(c.labels[COMPOSE_PROJECT] ?? '');
      const service = toRelativeName(c.labels[COMPOSE_SERVICE] ?? '');
      const number = c.labels[COMPOSE_NUMBER] ?? '';
      if (project && service && !project.includes('.') && !service.includes('.')) {
        add(`${service}.${project}`);
        if (/^[1-9]\d{0,5}$/.test(number)) add(`${number}.${service}.${project}`);
      }
      for (const custom of (c.labels[CUSTOM_NAME_LABEL] ?? '').split(',').slice(0, 32)) {
        const rel = toRelativeName(custom);
        // A custom name may be written with the suffix already on it.
        add(rel?.endsWith(`.${this.suffix}`) ? rel.slice(0, -this.suffix.length - 1) : rel);
      }
      for (const n of nets)
        for (const alias of n.aliases.slice(0, 32)) {
          // Docker adds the short container id as an alias; it is noise as a host name.
          if (c.id.startsWith(alias.toLowerCase())) continue;
          add(toRelativeName(alias), { a: [n.ipv4], aaaa: [n.ipv6] });
        }
      this.perContainer.set(c.id, given);
      const primary = given[0];
      if (primary)
        for (const ip of [...all.a, ...all.aaaa]) {
          const rev = ip ? reverseName(ip) : undefined;
          if (!rev) continue;
          const set = this.ptr.get(rev) ?? new Set<string>();
          set.add(primary);
          this.ptr.set(rev, set);
        }
    }
  }

  private addName(fqdn: string, id: string, addrs: { a: (string | null)[]; aaaa: (string | null)[] }) {
    let e = this.names.get(fqdn);
    if (!e) {
      e = { a: new Set(), aaaa: new Set(), containers: new Set() };
      this.names.set(fqdn, e);
    }
    e.containers.add(id);
    for (const ip of addrs.a) if (ip) e.a.add(ip);
    for (const ip of addrs.aaaa) if (ip) e.aaaa.add(ip);
    for (let n = fqdn; n.length > this.suffix.length; n = n.slice(n.indexOf('.') + 1)) this.nodes.add(n);
  }

  /** Names under the suffix that resolve to this container. */
  namesOf(containerId: string): string[] {
    return [...(this.perContainer.get(containerId) ?? [])];
  }

  /** Names claimed by more than one container, with those containers' ids. */
  collisions(): { name: string; containers: string[] }[] {
    return [...this.names]
      .filter(([, e]) => e.containers.size > 1)
      .map(([name, e]) => ({ name, containers: [...e.containers] }))
      .sort((x, y) => (x.name < y.name ? -1 : 1));
  }

  /** Any one name that resolves (the doctor asks for it). */
  sampleName(): string | undefined {
    return this.names.keys().next().value;
  }

  get size(): number {
    return this.names.size;
  }

  /** Looks a question's labels up (case-insensitively). */
  lookup(labels: string[]): Lookup {
    if (isReverseZone(labels)) {
      const addr = addressOfReverse(labels);
      const inScope =
        addr &&
        this.reverseScope.some(
          (c) =>
            c.family === addr.family &&
            contains(c, { family: addr.family, network: addr.value, prefix: addr.family === 4 ? 32 : 128 }),
        );
      if (!addr || !inScope) return { kind: 'refused' };
      const names = this.ptr.get(labels.map((l) => l.toLowerCase()).join('.'));
      return names ? { kind: 'found', a: [], aaaa: [], ptr: [...names] } : { kind: 'nxdomain' };
    }
    // A label holding a "." or odd bytes can only be a name we do not have.
    const name = labels.map((l) => l.toLowerCase()).join('.');
    if (name !== this.suffix && !name.endsWith(`.${this.suffix}`)) return { kind: 'refused' };
    if (labels.some((l) => l.includes('.'))) return { kind: 'nxdomain' };
    const e = this.names.get(name);
    if (e) return { kind: 'found', a: [...e.a], aaaa: [...e.aaaa], ptr: [] };
    return this.nodes.has(name) ? { kind: 'found', a: [], aaaa: [], ptr: [] } : { kind: 'nxdomain' };
  }
}
