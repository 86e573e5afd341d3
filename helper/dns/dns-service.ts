// Gangway DNS as one unit for the daemon: the container index, the name table built from it and the routed
// networks, the server, and the OS registration. reconfigure() applies a new address, port or suffix in
// place (settings changed, the tunnel subnet moved): rebind, re-register, no restart.
import type { ContainersResponse, DnsStatus } from '../../common/api';
import type { Logger } from '../../common/log';
import { TYPE } from './dns-message';
import { queryUdp } from './dns-client';
import { DnsServer } from './dns-server';
import {
  COMPOSE_PROJECT,
  COMPOSE_SERVICE,
  NameTable,
  type ContainerRecord,
  type RoutedNetwork,
} from './name-table';
import type { OsResolver } from './resolver';

export interface DnsConfig {
  /** The host's tunnel address: the server listens there. */
  address: string;
  /** 0: DNS off. */
  port: number;
  suffix: string;
}

/** The running containers (a ContainerIndex; tests pass a fake). */
export interface ContainerSource {
  readonly containers: ContainerRecord[];
  on(event: 'changed', listener: () => void): unknown;
  start(): void;
  stop(): Promise<void>;
}

export interface DnsServiceDeps {
  index: ContainerSource | undefined;
  resolver: OsResolver;
  /** The TUN device's name (where Linux attaches the registration). */
  device: () => string;
  log: Logger;
  onChange?: () => void;
}

export interface DnsProbe {
  name: string | null;
  ok: boolean;
  detail: string;
}

export class DnsService {
  readonly server: DnsServer;
  private cfg: DnsConfig | undefined;
  private table: NameTable;
  private routed: RoutedNetwork[] = [];
  private registeredAt: string | null = null;
  private registerHint: string | null = null;
  private lastError: string | null = null;
  /** gangway down takes the registration away; up brings it back. */
  private wantRegistered = true;
  /** reconfigure/register/unregister run one at a time. */
  private queue: Promise<void> = Promise.resolve();

  private index: ContainerSource | undefined;
  private started = false;

  constructor(private readonly deps: DnsServiceDeps) {
    this.table = new NameTable('gangway.internal', [], []);
    this.server = new DnsServer(() => this.table, { log: deps.log });
    this.index = deps.index;
    this.index?.on('changed', () => this.rebuild());
  }

  /** Docker moved (another endpoint): follow the new engine's containers. */
  async replaceIndex(index: ContainerSource | undefined): Promise<void> {
    const old = this.index;
    this.index = index;
    await old?.stop();
    index?.on('changed', () => {
      if (this.index === index) this.rebuild();
    });
    if (this.started) index?.start();
    this.rebuild();
  }

  private serial(fn: () => Promise<void>): Promise<void> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Starts serving (and the container index), registered with the OS unless the user said `gangway down`. */
  async start(cfg: DnsConfig, opts: { registered?: boolean } = {}): Promise<void> {
    this.started = true;
    this.wantRegistered = opts.registered ?? true;
    this.index?.start();
    await this.reconfigure(cfg);
  }

  /**
   * Applies an address, port or suffix in place. `force`: rebind and re-register even when they are the
   * same (the TUN device was re-created: a new link to register on).
   */
  reconfigure(cfg: DnsConfig, opts: { force?: boolean } = {}): Promise<void> {
    return this.serial(async () => {
      const prev = this.cfg;
      this.cfg = { ...cfg };
      if (prev?.suffix !== cfg.suffix) this.rebuild();
      const moved =
        !prev ||
        opts.force === true ||
        prev.address !== cfg.address ||
        prev.port !== cfg.port ||
        !this.server.listen;
      if (!moved && prev.suffix === cfg.suffix) return;
      await this.unregisterNow();
      if (moved) {
        await this.server.stop();
        if (cfg.port !== 0) {
          try {
            await this.server.start(cfg.address, cfg.port);
            this.lastError = null;
            this.deps.log.info('dns listening', { listen: this.server.listen, suffix: cfg.suffix });
          } catch (err) {
            this.lastError = `cannot listen on ${cfg.address}:${cfg.port}: ${(err as Error).message}`;
            this.deps.log.error('dns server failed', { error: this.lastError });
          }
        } else this.lastError = null;
      }
      if (this.wantRegistered) await this.registerNow();
      this.deps.onChange?.();
    });
  }

  /** gangway up: register with the OS again. */
  register(): Promise<void> {
    this.wantRegistered = true;
    return this.serial(async () => {
      await this.registerNow();
      this.deps.onChange?.();
    });
  }

  /** gangway down: remove the OS registration (the server keeps answering direct queries). */
  unregister(): Promise<void> {
    this.wantRegistered = false;
    return this.serial(async () => {
      await this.unregisterNow();
      this.deps.onChange?.();
    });
  }

  private async registerNow(): Promise<void> {
    const cfg = this.cfg;
    const port = this.server.port;
    if (!cfg || cfg.port === 0 || port === undefined || this.registeredAt) return;
    try {
      const r = await this.deps.resolver.register({
        address: cfg.address,
        port,
        suffix: cfg.suffix,
        device: this.deps.device(),
      });
      this.registeredAt = r.where;
      this.registerHint = r.hint ?? null;
      if (r.where) this.deps.log.info('dns registered with the OS', { where: r.where });
      else this.deps.log.warn('dns not registered with the OS', { hint: r.hint });
    } catch (err) {
      this.registerHint = `registering with the OS failed: ${(err as Error).message}`;
      this.deps.log.error('dns registration failed', { error: (err as Error).message });
    }
  }

  private async unregisterNow(): Promise<void> {
    const was = this.registeredAt;
    this.registeredAt = null;
    this.registerHint = null;
    try {
      await this.deps.resolver.unregister();
      if (was) this.deps.log.info('dns registration removed', { where: was });
    } catch (err) {
      this.deps.log.warn('could not remove the dns registration', { error: (err as Error).message });
    }
  }

  /** The routed networks changed (the daemon's route plan). */
  setRoutedNetworks(routed: RoutedNetwork[]): void {
    const key = JSON.stringify(routed);
    if (key === JSON.stringify(this.routed)) return;
    this.routed = routed.map((n) => ({ name: n.name, subnets: [...n.subnets] }));
    this.rebuild();
  }

  private rebuild(): void {
    this.table = new NameTable(
      this.cfg?.suffix ?? 'gangway.internal',
      this.index?.containers ?? [],
      this.routed,
    );
  }

  status(): DnsStatus {
    const cfg = this.cfg;
    return {
      enabled: !!cfg && cfg.port !== 0,
      suffix: cfg?.suffix ?? 'gangway.internal',
      listen: this.server.listen,
      resolver: this.registeredAt,
      lastError: this.lastError ?? (this.wantRegistered ? this.registerHint : null),
    };
  }

  counters(): Record<string, number> {
    return { ...this.server.counters };
  }

  containers(): ContainersResponse {
    const routedNames = new Set(this.routed.map((n) => n.name));
    const list = (this.index?.containers ?? []).sort((a, b) => (a.name < b.name ? -1 : 1));
    const names = new Map(list.map((c) => [c.id, c.name]));
    return {
      dns: this.status(),
      containers: list.map((c) => ({
        id: c.id,
        name: c.name,
        project: c.labels[COMPOSE_PROJECT] ?? null,
        service: c.labels[COMPOSE_SERVICE] ?? null,
        networks: c.networks.map((n) => ({
          ...n,
          aliases: [...n.aliases],
          routed: routedNames.has(n.network),
        })),
        dnsNames: this.table.namesOf(c.id),
      })),
      collisions: this.table
        .collisions()
        .map((x) => ({ name: x.name, containers: x.containers.map((id) => names.get(id) ?? id) })),
    };
  }

  /** The doctor's check: ask the server for a name it should know, over the network. */
  async probe(timeoutMs = 1_000): Promise<DnsProbe> {
    const cfg = this.cfg;
    const port = this.server.port;
    if (!cfg || port === undefined) return { name: null, ok: false, detail: 'not listening' };
    const name = this.table.sampleName() ?? null;
    try {
      const r = await queryUdp(cfg.address, port, name ?? cfg.suffix, name ? TYPE.A : TYPE.SOA, timeoutMs);
      const got = r.answers.map((a) => a.data).join(', ');
      if (r.rcode !== 0) return { name, ok: false, detail: `answer code ${r.rcode}` };
      if (name && r.answers.length === 0 && this.table.lookup(name.split('.')).kind === 'found')
        return { name, ok: true, detail: `${name}: no IPv4 address (IPv6 only)` };
      return { name, ok: true, detail: name ? `${name} -> ${got}` : `${cfg.suffix} SOA answered` };
    } catch (err) {
      return { name, ok: false, detail: (err as Error).message };
    }
  }

  async stop(): Promise<void> {
    this.wantRegistered = false;
    await this.serial(() => this.unregisterNow());
    await this.server.stop();
    this.started = false;
    await this.index?.stop();
  }
}
