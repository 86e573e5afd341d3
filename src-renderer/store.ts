// The window's state (zustand). The event stream pushes status snapshots; every event also marks the data
// that status does not carry (networks, containers) stale, and the store fetches it again.
import { create } from 'zustand';
import {
  statusSchema,
  type ContainersResponse,
  type Diagnostics,
  type LogEntry,
  type LogsResponse,
  type NetworksResponse,
  type SettingsPatch,
  type SettingsResponse,
  type Status,
} from '../common/api';
import { ApiError, type Api } from './api';
import type { Transport } from './transport';

export interface Loadable<T> {
  data: T | null;
  error: ApiError | null;
  loading: boolean;
}

const empty = <T>(): Loadable<T> => ({ data: null, error: null, loading: false });

type LoadKey = 'networks' | 'containers' | 'settings' | 'diagnostics' | 'logs';

export interface GangwayState {
  api: Api | null;
  /** Whether the event stream is up (false: the daemon or `gangway ui` is gone). */
  live: boolean;
  status: Loadable<Status>;
  networks: Loadable<NetworksResponse>;
  containers: Loadable<ContainersResponse>;
  settings: Loadable<SettingsResponse>;
  diagnostics: Loadable<Diagnostics>;
  logs: Loadable<LogsResponse>;
  logLevel: LogEntry['level'];
  /** An action in flight (connect, route:<name>, …), for its control to show. */
  busy: Record<string, boolean>;
  /** The last failed action, shown until the next one. */
  actionError: string | null;

  start: (api: Api, transport: Transport) => () => void;
  refreshStatus: () => Promise<void>;
  load: (key: LoadKey) => Promise<void>;
  setLogLevel: (level: LogEntry['level']) => void;
  /** allowPublic: the user confirmed routing the network's public addresses. */
  route: (network: string, routed: boolean, allowPublic?: boolean) => Promise<void>;
  join: (a: string, b: string, joined: boolean) => Promise<void>;
  connect: () => Promise<void>;
  disconnect: () => Promise<void>;
  /** Saves a change; returns the per-field errors the daemon gave, or null when saved. */
  saveSettings: (patch: SettingsPatch) => Promise<Record<string, string> | null>;
}

/** What each event makes stale: status is in the event itself. */
const REFETCH_ON_EVENT: LoadKey[] = ['networks', 'containers'];

export const useGangway = create<GangwayState>()((set, get) => {
  const fetchers = (api: Api): Record<LoadKey, () => Promise<unknown>> => ({
    networks: api.networks,
    containers: api.containers,
    settings: api.settings,
    diagnostics: api.diagnostics,
    logs: () => api.logs(200, get().logLevel),
  });
  let refetchTimer: ReturnType<typeof setTimeout> | undefined;
  // Route and join changes go out one at a time, so quick toggles reach the daemon in the order made.
  let changes: Promise<void> = Promise.resolve();
  const inOrder = (fn: () => Promise<void>): Promise<void> => (changes = changes.then(fn, fn));

  async function act(key: string, fn: (api: Api) => Promise<unknown>): Promise<void> {
    const api = get().api;
    if (!api) return;
    set((s) => ({ busy: { ...s.busy, [key]: true }, actionError: null }));
    try {
      await fn(api);
    } catch (err) {
      set({ actionError: (err as Error).message });
    } finally {
      set((s) => ({ busy: { ...s.busy, [key]: false } }));
    }
  }

  return {
    api: null,
    live: false,
    status: empty(),
    networks: empty(),
    containers: empty(),
    settings: empty(),
    diagnostics: empty(),
    logs: empty(),
    logLevel: 'info',
    busy: {},
    actionError: null,

    start(api, transport) {
      set({ api });
      void get().refreshStatus();
      const unsubscribe = transport.subscribe(
        (raw) => {
          const parsed = statusSchema.safeParse(raw);
          if (parsed.success) set({ status: { data: parsed.data, error: null, loading: false } });
          // Bursts of events (a docker compose up) coalesce into one fetch of each stale list.
          clearTimeout(refetchTimer);
          refetchTimer = setTimeout(() => {
            for (const key of REFETCH_ON_EVENT) if (get()[key].data || get()[key].error) void get().load(key);
          }, 50);
        },
        (up) => {
          set({ live: up });
          if (!up) void get().refreshStatus();
        },
      );
      return () => {
        clearTimeout(refetchTimer);
        unsubscribe();
      };
    },

    async refreshStatus() {
      const api = get().api;
      if (!api) return;
      try {
        const data = await api.status();
        set({ status: { data, error: null, loading: false } });
      } catch (err) {
        set((s) => ({ status: { data: s.status.data, error: err as ApiError, loading: false } }));
      }
    },

    async load(key) {
      const api = get().api;
      if (!api) return;
      set((s) => ({ [key]: { ...s[key], loading: true } }));
      try {
        const data = await fetchers(api)[key]();
        set({ [key]: { data, error: null, loading: false } } as Partial<GangwayState>);
      } catch (err) {
        const error =
          err instanceof ApiError
            ? err
            : new ApiError('DAEMON_UNREACHABLE', (err as Error).message ?? String(err));
        // Keep what was shown: the daemon restarting is no reason to blank the page.
        set((s) => ({ [key]: { data: s[key].data, error, loading: false } }));
      }
    },

    setLogLevel(level) {
      set({ logLevel: level });
      void get().load('logs');
    },

    route: (network, routed, allowPublic) =>
      inOrder(() =>
        act(`route:${network}`, async (api) => {
          const data = await api.route(network, routed, allowPublic);
          set({ networks: { data, error: null, loading: false } });
        }),
      ),

    join: (a, b, joined) =>
      inOrder(() =>
        act(`join:${a}:${b}`, async (api) => {
          const data = await api.join(a, b, joined);
          set({ networks: { data, error: null, loading: false } });
        }),
      ),

    connect: () =>
      act('connect', async (api) => {
        const data = await api.connect();
        set({ status: { data, error: null, loading: false } });
      }),

    disconnect: () =>
      act('disconnect', async (api) => {
        const data = await api.disconnect();
        set({ status: { data, error: null, loading: false } });
      }),

    async saveSettings(patch) {
      const api = get().api;
      if (!api) return null;
      set((s) => ({ busy: { ...s.busy, settings: true }, actionError: null }));
      try {
        const data = await api.saveSettings(patch);
        set({ settings: { data, error: null, loading: false } });
        return null;
      } catch (err) {
        if (err instanceof ApiError && err.fields) return err.fields;
        set({ actionError: (err as Error).message });
        return null;
      } finally {
        set((s) => ({ busy: { ...s.busy, settings: false } }));
      }
    },
  };
});
