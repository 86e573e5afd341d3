// What the app knows about the daemon, kept current from the event stream: the DaemonView the menu is built
// from, plus the network list (fetched again after each event, since status does not carry it).
import { EventEmitter } from 'node:events';
import { statusSchema, type NetworksResponse } from '../common/api';
import { ApiError, callApi } from '../client/api-client';
import { ROUTES } from '../common/api-routes';
import type { DaemonView } from './menu-model';
import { followEvents, helperInstalled, type EventFollower } from './helper-client';

export class DaemonState extends EventEmitter<{ change: [DaemonView]; status: [unknown]; live: [boolean] }> {
  view: DaemonView = { kind: 'starting' };
  private follower: EventFollower | undefined;
  private networks: NetworksResponse | null = null;

  constructor(
    private readonly socketPath: string,
    private readonly appVersion: string,
    /** Whether the helper's service is installed, whether it runs or not (the platform's own record). */
    private readonly serviceInstalled: () => boolean = () => false,
  ) {
    super();
  }

  start(): void {
    this.follower = followEvents(
      this.socketPath,
      (raw) => {
        this.emit('status', raw);
        const parsed = statusSchema.safeParse(raw);
        if (!parsed.success) return void this.checkVersion();
        // Another version whose status this app reads speaks its API: the controls stay, and the menu offers
        // the update beside them (a patch release must not take Connect and the networks away).
        const outdated =
          parsed.data.version !== this.appVersion
            ? { daemonVersion: parsed.data.version, appVersion: this.appVersion }
            : undefined;
        this.set({ kind: 'ok', status: parsed.data, networks: this.networks, ...(outdated && { outdated }) });
        void this.refreshNetworks();
      },
      (up) => {
        this.emit('live', up);
        if (!up) void this.checkVersion();
      },
    );
  }

  stop(): void {
    this.follower?.stop();
  }

  /** The helper was just installed or updated: look for it now, not at the stream's next backoff. */
  helperChanged(): Promise<void> {
    this.follower?.retryNow();
    return this.checkVersion();
  }

  /** After a failed stream: tell "not installed", "not running" and "another version" apart. */
  async checkVersion(): Promise<void> {
    try {
      const v = await callApi(this.socketPath, ROUTES.version, { timeoutMs: 3_000 });
      // The event stream's status, once it came, says whether the controls work: it is not overruled here.
      if (v.version !== this.appVersion && this.view.kind !== 'ok')
        this.set({ kind: 'version-skew', daemonVersion: v.version, appVersion: this.appVersion });
    } catch (err) {
      if (err instanceof ApiError && err.code === 'VERSION_SKEW')
        return this.set({ kind: 'version-skew', daemonVersion: 'unknown', appVersion: this.appVersion });
      this.set({
        kind: 'unreachable',
        installed: helperInstalled(this.socketPath),
        reason: (err as Error).message,
        service: this.serviceInstalled(),
      });
    }
  }

  async refreshNetworks(): Promise<void> {
    try {
      this.networks = await callApi(this.socketPath, ROUTES.networks, { timeoutMs: 5_000 });
      if (this.view.kind === 'ok') this.set({ ...this.view, networks: this.networks });
    } catch {
      // the stream's own failure handling reports an unreachable daemon
    }
  }

  private set(view: DaemonView): void {
    this.view = view;
    this.emit('change', view);
  }
}
