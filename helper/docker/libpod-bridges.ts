// Podman's Docker-compatible network list carries no bridge name (no com.docker.network.bridge.name option)
// and its bridges are cni-podman<N> (CNI) or podman<N> (netavark), never Docker's br-<id>. Podman's own API
// says which: `network_interface` in GET /v4.0.0/libpod/networks/json (seen with Podman 4.3.1 here).
import type Dockerode from 'dockerode';
import { z } from 'zod';

const libpodNetworksSchema = z.array(
  z.object({ id: z.string(), network_interface: z.string().optional() }).passthrough(),
);

/** Network id -> bridge device, from the body of GET /v4.0.0/libpod/networks/json. Entries without a device are left out. */
export function parseLibpodBridges(body: unknown): Map<string, string> {
  const list = libpodNetworksSchema.parse(body);
  return new Map(list.filter((n) => !!n.network_interface).map((n) => [n.id, n.network_interface as string]));
}

/** Asks Podman's own API for each network's bridge device. */
export async function listLibpodBridges(
  docker: Dockerode,
  signal: AbortSignal,
): Promise<Map<string, string>> {
  const body = await new Promise<unknown>((resolve, reject) => {
    docker.modem.dial(
      {
        // Podman 4.3 answers its own API only under a version prefix; v4.0.0 is the libpod API's first version.
        path: '/v4.0.0/libpod/networks/json',
        method: 'GET',
        statusCodes: { 200: true, 404: 'no libpod API (not Podman?)', 500: 'server error' },
        abortSignal: signal,
      },
      (err: unknown, data: unknown) =>
        err
          ? reject(err instanceof Error ? err : new Error('Podman refused the network list'))
          : resolve(data),
    );
  });
  return parseLibpodBridges(body);
}
