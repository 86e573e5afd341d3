// Keeps the host's routes in step with Docker's networks, the user's choices and the host's routing table:
// plans and reconciles on every change, tells the pump which sources it may let in (the routed subnets),
// has the tunnel push the new routes and joined bridges to the agent, and tells DNS which networks are
// routed. It also answers what the plan looks like (`/v1/networks`), since the plan is its own.
import type { NetworksResponse } from '../../common/api';
import type { Logger } from '../../common/log';
import { interfaceName } from '../../common/tunnel-config';
import type { RoutedNetwork } from '../dns/name-table';
import type { DockerNetwork } from '../docker/network-watcher';
import type { Settings } from '../settings/settings-store';
import {
  isBroadSubnet,
  isNetworkWanted,
  isPublicAllowed,
  isPublicSubnet,
  type RoutePlan,
} from './route-planner';
import type { RouteReconciler, RouteStatus } from './route-reconciler';

export interface RouteSyncDeps {
  /** The reconciler on the current TUN device; undefined while the data plane is closed. */
  reconciler: () => RouteReconciler | undefined;
  /** The saved settings; undefined until loaded. */
  settings: () => Settings | undefined;
  /** Docker's networks as last listed. */
  networks: () => DockerNetwork[];
  /** False after `gangway down`: nothing is routed then. */
  routing: () => boolean;
  tunnelSubnet: () => string;
  /** The IPv6 tunnel subnet (null while IPv6 is off) and why IPv6 is off. */
  tunnelSubnet6: () => string | null;
  ipv6Off: () => string | null;
  /** Subnets routed regardless of Docker (--route). */
  staticRoutes: string[];
  /** The installed routes changed: let their sources through the pump and push the config to the agent. */
  announce: (installed: string[]) => void;
  /** The routed networks, for DNS. */
  routedNetworks: (routed: RoutedNetwork[]) => void;
  /** What the status reports changed. */
  changed: () => void;
  log: Logger;
}

export class RouteSync {
  private current: RouteStatus[] = [];
  private lastPlan: RoutePlan | undefined;
  private announcedRoutes = '';
  private announcedJoins = '';
  private announcedStatus = '';

  constructor(private readonly d: RouteSyncDeps) {}

  /** The routes wanted and whether each is installed, for status. */
  get routes(): RouteStatus[] {
    return this.current;
  }

  /** The last plan (kept when the routing table could not be read). */
  get plan(): RoutePlan | undefined {
    return this.lastPlan;
  }

  /** The data plane closed: its routes went with the device, so the next sync announces afresh. */
  forgetAnnounced(): void {
    this.announcedRoutes = '';
  }

  /** Re-plans routes from Docker's networks, the settings and the host's table, and applies the plan. */
  async sync(): Promise<void> {
    const reconciler = this.d.reconciler();
    const settings = this.d.settings();
    if (!reconciler || !settings) return;
    const routing = this.d.routing();
    const r = await reconciler.reconcile({
      networks: routing ? this.d.networks() : [],
      settings,
      tunnelSubnet: this.d.tunnelSubnet(),
      tunnelSubnet6: this.d.tunnelSubnet6(),
      ipv6Off: this.d.ipv6Off(),
      staticRoutes: routing ? this.d.staticRoutes : [],
    });
    this.current = r.routes;
    this.lastPlan = r.plan ?? this.lastPlan;
    this.d.routedNetworks(
      (this.lastPlan?.networks ?? [])
        .filter((n) => n.routed)
        .map((n) => ({ name: n.name, subnets: n.subnets.filter((x) => x.routed).map((x) => x.cidr) })),
    );
    const { log } = this.d;
    for (const e of r.errors) log.error(`route ${e.op} failed`, { cidr: e.cidr, error: e.error });
    for (const n of r.plan?.networks ?? [])
      if (n.wanted && n.conflict) log.warn('network not routed', { network: n.name, conflict: n.conflict });
    // Concurrent sync() calls share one coalesced reconcile: compare with what was last announced.
    const key = reconciler.installed.join(',');
    const joins = this.joinedBridges();
    const joinsKey = JSON.stringify(joins);
    if (key !== this.announcedRoutes || joinsKey !== this.announcedJoins) {
      if (key !== this.announcedRoutes) log.info('routes changed', { routes: reconciler.installed });
      if (joinsKey !== this.announcedJoins) log.info('joins changed', { bridges: joins });
      this.announcedRoutes = key;
      this.announcedJoins = joinsKey;
      this.d.announce(reconciler.installed);
    }
    // Networks can change without changing routes (a new network that conflicts, a rename).
    const statusKey = JSON.stringify([this.current, this.networks()]);
    if (statusKey !== this.announcedStatus) {
      this.announcedStatus = statusKey;
      this.d.changed();
    }
  }

  /** The joined network pairs (kept by name) as the VM's bridge devices, for networks that exist now. */
  joinedBridges(): [string, string][] {
    const bridges = new Map(this.d.networks().map((n) => [n.name, n.bridge]));
    const out: [string, string][] = [];
    for (const [a, b] of this.d.settings()?.joins ?? []) {
      const ba = bridges.get(a);
      const bb = bridges.get(b);
      if (!ba || !bb || ba === bb) continue;
      // The agent rejects a whole configuration with an odd bridge name (set by a network option): skip it.
      if (interfaceName.safeParse(ba).success && interfaceName.safeParse(bb).success) out.push([ba, bb]);
    }
    return out;
  }

  /** GET /v1/networks: the plan, with what Docker says about each network. */
  networks(): NetworksResponse {
    if (!this.d.routing()) return this.networksWhileDisconnected();
    const settings = this.d.settings();
    const byId = new Map(this.d.networks().map((n) => [n.id, n]));
    return {
      routeNewNetworks: settings?.routeNewNetworks ?? true,
      networks: (this.lastPlan?.networks ?? []).map((p) => {
        const n = byId.get(p.id);
        return {
          id: p.id,
          name: p.name,
          driver: n?.driver ?? 'bridge',
          internal: n?.internal ?? false,
          subnets: p.subnets.map((x) => x.cidr),
          wanted: p.wanted,
          routed: p.routed,
          conflict: p.conflict ?? null,
          publicSubnets: p.publicSubnets,
          allowPublic: p.allowPublic,
          ...(n ? { bridge: n.bridge } : {}),
        };
      }),
      joins: settings?.joins ?? [],
    };
  }

  /**
   * After `gangway down` nothing is planned or routed, but Docker's networks are still listed with the
   * user's choices, so the app and the CLI can set them before connecting again.
   */
  private networksWhileDisconnected(): NetworksResponse {
    const settings = this.d.settings();
    return {
      routeNewNetworks: settings?.routeNewNetworks ?? true,
      networks: this.d
        .networks()
        .filter((n) => n.subnets.length > 0)
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((n) => ({
          id: n.id,
          name: n.name,
          driver: n.driver,
          internal: n.internal,
          subnets: [...n.subnets],
          wanted: settings ? isNetworkWanted(settings, n.name, n.subnets) : !n.subnets.some(isBroadSubnet),
          routed: false,
          conflict: null,
          publicSubnets: n.subnets.filter(isPublicSubnet),
          allowPublic: settings ? isPublicAllowed(settings, n.name) : false,
          bridge: n.bridge,
        })),
      joins: settings?.joins ?? [],
    };
  }
}
