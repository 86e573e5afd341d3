// What the helper needs from the operating system's network configuration. One implementation per
// platform (net-linux.ts, net-darwin.ts), chosen in platform.ts.
export interface TunAddressing {
  /** The host's address inside the tunnel. */
  local: string;
  /** The agent's address inside the tunnel (point-to-point peer). */
  peer: string;
  mtu: number;
}

/**
 * The host's IPv6 tunnel address and its subnet's prefix length: the whole (unique-local) tunnel subnet is on
 * the device, so the agent's IPv6 address is reached through it.
 */
export interface TunAddressing6 {
  local: string;
  prefix: number;
}

export interface HostRoute {
  /** Destination in CIDR form; "0.0.0.0/0" / "::/0" for default routes. */
  destination: string;
  device: string;
}

/** Whether a device is up, and what the OS says about it (for gangway doctor). */
export interface LinkState {
  up: boolean;
  detail: string;
}

export interface NetPlatform {
  /** Addresses the TUN device and brings it up. */
  configureTun(device: string, addressing: TunAddressing): Promise<void>;
  /** Adds the IPv6 tunnel address to the device (after configureTun: the MTU must already be ≥ 1280). */
  configureTun6(device: string, addressing: TunAddressing6): Promise<void>;
  /** Adds (or replaces) a route for `cidr` through the TUN device. */
  addRoute(cidr: string, device: string): Promise<void>;
  /** Removes the route for `cidr` through the TUN device; a missing route is not an error. */
  deleteRoute(cidr: string, device: string): Promise<void>;
  /** The host's routing table (both families), for conflict checks. */
  listRoutes(): Promise<HostRoute[]>;
  /** Whether the device is up (doctor's TUN check). */
  linkState(device: string): Promise<LinkState>;
  /** A long-running command that prints a line whenever the routing table changes (see route-monitor.ts);
   *  `relevant` tells the lines that can change the plan from the rest, when the command prints more. */
  readonly routeMonitor?: { cmd: string; args: string[]; relevant?: (line: string) => boolean };
}
