// `gangway containers [--json]`: running containers, their networks and addresses, and their DNS names.
import { parseArgs } from 'node:util';
import { type ContainersResponse } from '../common/api';
import { callApi } from '../client/api-client';
import { ROUTES } from '../common/api-routes';
import { formatTable } from './table';
import { defaultSocketPath } from '../common/default-paths';

export const CONTAINERS_USAGE = `Usage: gangway containers [--json] [--socket PATH]

Lists running containers: their networks, addresses and the DNS names that resolve to them.`;

export function formatContainers(r: ContainersResponse): string {
  const d = r.dns;
  const dnsLine = !d.enabled
    ? 'DNS: off'
    : `DNS: *.${d.suffix} on ${d.listen ?? '(not listening)'}; ${d.resolver ? `registered: ${d.resolver}` : `not registered with the OS${d.lastError ? ` (${d.lastError})` : ''}`}`;
  if (r.containers.length === 0)
    return `No running containers (is Docker running? see "gangway status").\n${dnsLine}`;
  const rows: string[][] = [];
  for (const c of r.containers) {
    const nets = c.networks.length ? c.networks : [{ network: '-', ipv4: null, ipv6: null, routed: false }];
    nets.forEach((n, i) => {
      const ips = [n.ipv4, n.ipv6].filter(Boolean).join(', ') || '-';
      rows.push([
        i === 0 ? c.name : '',
        `${n.network}${n.routed ? '' : ' (not routed)'}`,
        ips,
        i === 0 ? c.dnsNames.join(', ') || '-' : '',
      ]);
    });
  }
  const table = formatTable(['CONTAINER', 'NETWORK', 'ADDRESSES', 'DNS NAMES'], rows);
  const collisions = r.collisions.map(
    (x) => `Collision: ${x.name} is claimed by ${x.containers.join(', ')} (resolves to all of them)`,
  );
  return [...table, '', ...collisions, dnsLine].join('\n');
}

export async function runContainersCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: { json: { type: 'boolean' }, socket: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(CONTAINERS_USAGE);
    return 0;
  }
  const r = await callApi(values.socket ?? defaultSocketPath(), ROUTES.containers);
  console.log(values.json ? JSON.stringify(r, null, 2) : formatContainers(r));
  return 0;
}
