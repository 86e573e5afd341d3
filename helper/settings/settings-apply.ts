// The settings in effect (saved values over the daemon's flags) and PATCH /v1/settings: validate, save, then
// apply each change where it belongs (move the tunnel, replace the Docker session, reconfigure DNS, create
// the agent again for a new port) without a restart. Changes apply one at a time; a change the tunnel
// cannot take is undone, in the file too.
import { settingsPatchSchema, type SettingsResponse, type UserSettings } from '../../common/api';
import type { Logger } from '../../common/log';
import type { HostRoute } from '../../shared/platform/net-platform';
import type { DaemonConfig } from '../config';
import { ApiFailure, invalidRequest } from '../control-server';
import { planeParams, type PlaneParams } from '../data-plane';
import type { DockerNetwork } from '../docker/network-watcher';
import { tunnelSubnetClash } from '../routes/route-planner';
import type { SettingsStore } from './settings-store';

export interface SettingsApplyDeps {
  /** The flags: what an unsaved setting falls back to. */
  cfg: Pick<
    DaemonConfig,
    'tunnelSubnet' | 'tunnelSubnet6' | 'port' | 'mtu' | 'dnsSuffix' | 'dnsPort' | 'dockerHost' | 'docker'
  >;
  /** The settings file; undefined until the daemon loaded it. */
  store: () => SettingsStore | undefined;
  /** The data plane's parameters now in effect. */
  plane: () => PlaneParams;
  /** Moves the data plane to new parameters; throws (with the old ones restored) when it cannot. */
  moveTunnel: (next: PlaneParams) => Promise<void>;
  /** Replaces the Docker session (a new dockerHost). */
  replaceDocker: () => Promise<void>;
  /** Applies the DNS settings in effect. */
  applyDns: () => Promise<void>;
  agentWanted: () => boolean;
  /** Creates the agent container again (its port is on its command line). */
  launchAgent: () => Promise<void>;
  /** Re-plans routes. */
  sync: () => Promise<void>;
  changed: () => void;
  /** For the tunnel subnet check: the host's routes, Docker's networks, the TUN device. */
  listRoutes: () => Promise<HostRoute[]>;
  networks: () => DockerNetwork[];
  device: () => string;
  log: Logger;
}

export class SettingsApply {
  /** Settings changes apply one at a time. */
  private applying: Promise<unknown> = Promise.resolve();

  constructor(private readonly d: SettingsApplyDeps) {}

  /** The settings in effect: saved values over the daemon's flags. */
  effective(): UserSettings {
    const s = this.d.store()?.settings;
    const { cfg } = this.d;
    return {
      tunnelSubnet: s?.tunnelSubnet ?? cfg.tunnelSubnet,
      tunnelSubnet6: s?.tunnelSubnet6 !== undefined ? s.tunnelSubnet6 : cfg.tunnelSubnet6,
      port: s?.port ?? cfg.port,
      mtu: s?.mtu ?? cfg.mtu,
      dnsSuffix: s?.dnsSuffix ?? cfg.dnsSuffix,
      dnsPort: s?.dnsPort ?? cfg.dnsPort,
      dockerHost: s?.dockerHost !== undefined ? s.dockerHost : (cfg.dockerHost ?? null),
      routeNewNetworks: s?.routeNewNetworks ?? true,
    };
  }

  /** GET /v1/settings */
  response(): SettingsResponse {
    return { settings: this.effective(), warning: this.d.store()?.warning ?? null };
  }

  /** PATCH /v1/settings: validates, saves, then applies; a change that cannot be applied is undone. */
  patch(body: unknown): Promise<SettingsResponse> {
    const run = this.applying.then(() => this.apply(body));
    this.applying = run.catch(() => undefined);
    return run;
  }

  /** Settles once no change is in flight (stop waits for it, so a data plane it opens is closed too). */
  idle(): Promise<unknown> {
    return this.applying;
  }

  private async apply(body: unknown): Promise<SettingsResponse> {
    const { d } = this;
    const store = d.store();
    if (!store) throw new ApiFailure(503, 'NOT_READY', 'the daemon is still starting');
    const req = settingsPatchSchema.safeParse(body);
    if (!req.success) throw invalidRequest(req.error, 'INVALID_SETTINGS');
    const patch = req.data;
    const before = this.effective();
    const after: UserSettings = { ...before, ...patch };
    for (const key of ['tunnelSubnet', 'tunnelSubnet6'] as const) {
      const subnet = patch[key];
      const clash = typeof subnet === 'string' ? await this.tunnelSubnetProblem(subnet) : undefined;
      if (clash) throw new ApiFailure(400, 'INVALID_SETTINGS', `${key}: ${clash}`, { [key]: clash });
    }
    const saved = store.settings;
    await store.update((s) => {
      Object.assign(s, patch);
    });
    const nextPlane = planeParams({ ...d.cfg, ...after });
    const current = d.plane();
    // IPv6 turning on or off (tunnelSubnet6, or the MTU crossing 1280) re-addresses the device too.
    const planeMoved = (['subnet', 'port', 'mtu', 'subnet6', 'hostAddress6'] as const).some(
      (k) => nextPlane[k] !== current[k],
    );
    if (nextPlane.ipv6Off && !current.ipv6Off) d.log.warn(nextPlane.ipv6Off, {});
    if (planeMoved) {
      try {
        await d.moveTunnel(nextPlane);
      } catch (err) {
        await store.update(() => saved);
        throw new ApiFailure(
          409,
          'SETTINGS_NOT_APPLIED',
          `the tunnel cannot use these settings, so the previous ones stay: ${(err as Error).message}`,
        );
      }
    }
    d.log.info('settings changed', { changed: patch });
    if (after.dockerHost !== before.dockerHost && d.cfg.docker) await d.replaceDocker();
    if (after.dnsPort !== before.dnsPort || after.dnsSuffix !== before.dnsSuffix) await d.applyDns();
    // A new port is baked into the agent container's command line: it has to be created again.
    if (nextPlane.port !== before.port && d.agentWanted()) await d.launchAgent().catch(() => undefined);
    await d.sync();
    d.changed();
    return this.response();
  }

  /** Why `subnet` cannot carry the tunnel, if it cannot (see tunnelSubnetClash). */
  private async tunnelSubnetProblem(subnet: string): Promise<string | undefined> {
    let hostRoutes: HostRoute[];
    try {
      hostRoutes = await this.d.listRoutes();
    } catch (err) {
      return `the routing table cannot be read to check it: ${(err as Error).message}`;
    }
    return tunnelSubnetClash(subnet, this.d.networks(), hostRoutes, this.d.device());
  }
}
