// Which engine runs Docker's VM, from what the helper can see without entering it: the endpoint (socket path
// or URL), the docker context's name, `GET /info` (OperatingSystem, Name, Labels) and `GET /version`
// (Components: Podman names itself there). The engine decides what the agent dials to reach the host, and
// whether Gangway is needed at all (OrbStack routes container IPs to the Mac itself).
//
// The signals per engine are documented by each engine (paths, context names, `docker info` fields); only
// the rig's dockerd and Debian's podman were captured here (see tests/fixtures/engines/README.md).
import type Dockerode from 'dockerode';
import { withinDockerDeadline, type WithAbortSignal } from './docker-answers';

export const ENGINE_KINDS = [
  'docker-desktop',
  'orbstack',
  'colima',
  'lima',
  'rancher-desktop',
  'podman-machine',
  'podman',
  'linux',
  'unknown',
] as const;
export type EngineKind = (typeof ENGINE_KINDS)[number];

export interface EngineProfile {
  kind: EngineKind;
  /** For people: "Docker Desktop", "Colima" ... */
  label: string;
  /** The host name the agent dials (with the helper's port). */
  agentDial: string;
  /** `--add-host` entries for the agent's container, so agentDial resolves whatever the VM's DNS says. */
  extraHosts: string[];
  /** The engine already routes container IPs to the host: Gangway stays out unless told otherwise. */
  routesItself: boolean;
  /** Its event stream reports network create/destroy; otherwise the network list is polled. */
  networkEvents: boolean;
  /** Bridge device names come from Podman's own API (its compatible one does not say). */
  libpodBridgeNames: boolean;
}

/** Lima's user-mode network puts the host at 192.168.5.2 (host.lima.internal); Colima and Rancher Desktop
 *  on macOS run on Lima. */
const LIMA_HOST = 'host.lima.internal';
const LIMA_HOST_IP = '192.168.5.2';

export function engineProfile(kind: EngineKind): EngineProfile {
  const hostGateway = ['host.docker.internal:host-gateway'];
  switch (kind) {
    case 'docker-desktop':
      return {
        kind,
        label: 'Docker Desktop',
        agentDial: 'host.docker.internal',
        extraHosts: hostGateway,
        routesItself: false,
        networkEvents: true,
        libpodBridgeNames: false,
      };
    case 'orbstack':
      return {
        kind,
        label: 'OrbStack',
        agentDial: 'host.docker.internal',
        extraHosts: [],
        routesItself: true,
        networkEvents: true,
        libpodBridgeNames: false,
      };
    case 'colima':
    case 'lima':
    case 'rancher-desktop':
      return {
        kind,
        label: kind === 'colima' ? 'Colima' : kind === 'lima' ? 'Lima' : 'Rancher Desktop',
        agentDial: LIMA_HOST,
        extraHosts: [`${LIMA_HOST}:${LIMA_HOST_IP}`],
        routesItself: false,
        networkEvents: true,
        libpodBridgeNames: false,
      };
    case 'podman-machine':
    case 'podman':
      // Podman adds host.containers.internal to every container's /etc/hosts itself. Its compat API (4.3,
      // seen here) sent no network events: the list is polled.
      return {
        kind,
        label: kind === 'podman' ? 'Podman' : 'Podman machine',
        agentDial: 'host.containers.internal',
        extraHosts: [],
        routesItself: false,
        networkEvents: false,
        libpodBridgeNames: true,
      };
    case 'linux':
    case 'unknown':
      return {
        kind,
        label: kind === 'linux' ? 'Docker Engine (Linux)' : 'unknown engine',
        agentDial: 'host.docker.internal',
        extraHosts: hostGateway,
        routesItself: false,
        networkEvents: true,
        libpodBridgeNames: false,
      };
  }
}

/** The fields of `GET /info` and `GET /version` that tell engines apart. */
export interface EngineFacts {
  /** The endpoint URL (unix:///..., tcp://...). */
  endpoint: string;
  context?: string | undefined;
  platform: NodeJS.Platform;
  info: {
    OperatingSystem?: string;
    Name?: string;
    Labels?: string[] | null;
    KernelVersion?: string;
    /** Docker and newer Podman list "name=rootless" here. */
    SecurityOptions?: string[] | null;
    /** Podman's own field (4.3 lists no "name=rootless" in SecurityOptions, seen here). */
    Rootless?: boolean;
  };
  version?: { Components?: { Name?: string }[] };
}

export interface EngineDetection extends EngineProfile {
  /** The signal that decided it, for doctor ("docker info OperatingSystem is \"OrbStack\""). */
  evidence: string;
  /** Set when the engine runs rootless: the signal that says so. */
  rootless?: string | undefined;
}

/** Why the engine runs rootless, if `docker info` says it does. */
export function rootlessEvidence(info: EngineFacts['info']): string | undefined {
  if (info.Rootless === true) return 'docker info Rootless is true';
  if ((info.SecurityOptions ?? []).some((o) => o.split(',').includes('name=rootless')))
    return 'docker info SecurityOptions lists name=rootless';
  return undefined;
}

interface Rule {
  kind: EngineKind;
  test: (
    f: Required<Pick<EngineFacts, 'endpoint' | 'platform'>> & {
      os: string;
      name: string;
      labels: string[];
      context: string;
      podman: boolean;
    },
  ) => string | undefined;
}

const has = (s: string, needle: string, what: string) =>
  s.includes(needle) ? `${what} contains "${needle}"` : undefined;

/** In order: the first rule with evidence wins. Specific engines before the generic ones they run on. */
const RULES: Rule[] = [
  {
    kind: 'orbstack',
    test: (f) =>
      (f.os === 'OrbStack' ? 'docker info OperatingSystem is "OrbStack"' : undefined) ??
      (f.context === 'orbstack' ? 'docker context "orbstack"' : undefined) ??
      has(f.endpoint, '/.orbstack/', 'the endpoint'),
  },
  {
    kind: 'docker-desktop',
    test: (f) =>
      (f.os === 'Docker Desktop' ? 'docker info OperatingSystem is "Docker Desktop"' : undefined) ??
      (f.labels.some((l) => l.startsWith('com.docker.desktop.address='))
        ? 'docker info has the label com.docker.desktop.address'
        : undefined) ??
      (f.context === 'desktop-linux' ? 'docker context "desktop-linux"' : undefined) ??
      has(f.endpoint, '/.docker/run/docker.sock', 'the endpoint'),
  },
  {
    kind: 'podman-machine',
    test: (f) =>
      f.podman || /podman/i.test(f.endpoint)
        ? (has(f.os.toLowerCase(), 'coreos', 'docker info OperatingSystem') ??
          has(f.endpoint, 'podman-machine', 'the endpoint') ??
          has(f.endpoint, '/machine/', 'the endpoint') ??
          // Podman runs containers only on Linux: elsewhere it is a machine, whatever socket leads to it
          // (podman-mac-helper's /var/run/docker.sock, say).
          (f.podman && f.platform !== 'linux'
            ? `docker version lists "Podman Engine", and this is ${f.platform}`
            : undefined))
        : undefined,
  },
  {
    kind: 'podman',
    test: (f) =>
      (f.podman ? 'docker version lists the component "Podman Engine"' : undefined) ??
      has(f.endpoint, 'podman', 'the endpoint'),
  },
  {
    kind: 'rancher-desktop',
    test: (f) =>
      (f.name === 'lima-rancher-desktop' ? 'docker info Name is "lima-rancher-desktop"' : undefined) ??
      has(f.os, 'Rancher Desktop', 'docker info OperatingSystem') ??
      (f.context === 'rancher-desktop' ? 'docker context "rancher-desktop"' : undefined) ??
      has(f.endpoint, '/.rd/', 'the endpoint'),
  },
  {
    kind: 'colima',
    test: (f) =>
      (/^colima(-|$)/.test(f.name) ? `docker info Name is "${f.name}"` : undefined) ??
      (/^colima(-|$)/.test(f.context) ? `docker context "${f.context}"` : undefined) ??
      has(f.endpoint, '/.colima/', 'the endpoint'),
  },
  {
    kind: 'lima',
    test: (f) =>
      (/^lima-/.test(f.name) ? `docker info Name is "${f.name}"` : undefined) ??
      (/^lima(-|$)/.test(f.context) ? `docker context "${f.context}"` : undefined) ??
      has(f.endpoint, '/.lima/', 'the endpoint'),
  },
  {
    kind: 'linux',
    // Docker Engine on this Linux machine (not in a VM of some desktop product): a local socket.
    test: (f) =>
      f.platform === 'linux' && f.endpoint.startsWith('unix://')
        ? `a local socket on Linux, OperatingSystem "${f.os}"`
        : undefined,
  },
];

export function detectEngine(facts: EngineFacts): EngineDetection {
  const f = {
    endpoint: facts.endpoint,
    platform: facts.platform,
    os: facts.info.OperatingSystem ?? '',
    name: facts.info.Name ?? '',
    labels: facts.info.Labels ?? [],
    context: facts.context ?? '',
    podman: (facts.version?.Components ?? []).some((c) => /^podman/i.test(c.Name ?? '')),
  };
  const rootless = rootlessEvidence(facts.info);
  for (const r of RULES) {
    const evidence = r.test(f);
    if (evidence) return { ...engineProfile(r.kind), evidence, rootless };
  }
  return {
    ...engineProfile('unknown'),
    evidence: `nothing known in OperatingSystem "${f.os}", Name "${f.name}"`,
    rootless,
  };
}

/**
 * How long the engine's facts may take. A VM frozen between the event stream's start and `docker info`'s
 * answer would otherwise hold the detection, and with it `gangway up`, which waits for the detection to settle.
 */
export const PROBE_TIMEOUT_MS = 10_000;

/** Asks the engine for its facts and detects it. Throws what dockerode throws (Docker unreachable), or
 *  DockerSilentError after `timeoutMs`. */
export async function probeEngine(
  docker: Pick<Dockerode, 'info' | 'version'>,
  where: { endpoint: string; context?: string | undefined; platform?: NodeJS.Platform },
  timeoutMs = PROBE_TIMEOUT_MS,
): Promise<EngineDetection> {
  const { info, version } = await withinDockerDeadline(timeoutMs, async (abortSignal) => {
    const ask = (call: Dockerode['info'] | Dockerode['version']) =>
      (call as unknown as WithAbortSignal).call(docker, { abortSignal });
    return {
      info: (await ask(docker.info)) as EngineFacts['info'],
      // Optional: an engine without it (or one that stops answering now) is still told by its info.
      version: (await ask(docker.version).catch(() => undefined)) as EngineFacts['version'],
    };
  });
  return detectEngine({
    endpoint: where.endpoint,
    context: where.context,
    platform: where.platform ?? process.platform,
    info,
    version,
  });
}

export function isEngineKind(s: string): s is EngineKind {
  return (ENGINE_KINDS as readonly string[]).includes(s);
}
