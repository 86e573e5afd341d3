// A userspace UDP relay that behaves like Docker Desktop's proxy between its VM and the Mac: a datagram from
// the VM reaches the host from 127.0.0.1 and a port of the relay's own, one port per flow (the VM's source
// address and port), and a flow idle for `idleMs` is forgotten: its socket is closed, so the next datagram
// of the same VM flow leaves from a new port. Docker Desktop forgets after about 90 s; tests use seconds.
//
// Idleness counts traffic both ways (a reply keeps the flow as alive as a request). Replies are accepted
// only from the target, and sent back to the VM from the listening socket, as the VM sees one server.
import { createSocket, type Socket } from 'node:dgram';
import { formatEndpoint, type Endpoint } from '../common/control-port';

export type RelayEvent =
  | { event: 'listening'; address: string; port: number }
  | { event: 'flow-open'; client: string; port: number }
  | { event: 'flow-forgotten'; client: string; port: number; idleMs: number };

export interface UdpRelayOptions {
  /** Where the VM sends (host.docker.internal resolves here in the rig). */
  listen: Endpoint;
  /** The helper's socket. */
  target: Endpoint;
  /** The address flows send from (Docker Desktop: 127.0.0.1). */
  sourceAddress: string;
  idleMs: number;
  onEvent?: (e: RelayEvent) => void;
  now?: () => number;
}

interface Flow {
  client: Endpoint;
  socket: Socket;
  port: number;
  lastActive: number;
}

export class UdpRelay {
  private readonly flows = new Map<string, Flow>();
  private readonly listener: Socket;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  /** Datagrams dropped: replies from anyone but the target, or a send that failed. */
  dropped = 0;

  constructor(private readonly o: UdpRelayOptions) {
    this.now = o.now ?? Date.now;
    this.listener = createSocket(o.listen.address.includes(':') ? 'udp6' : 'udp4');
  }

  async start(): Promise<void> {
    this.listener.on('message', (msg, r) => void this.fromClient(msg, { address: r.address, port: r.port }));
    await new Promise<void>((resolve, reject) => {
      this.listener.once('error', reject);
      this.listener.bind(this.o.listen.port, this.o.listen.address, () => resolve());
    });
    const a = this.listener.address();
    this.o.onEvent?.({ event: 'listening', address: a.address, port: a.port });
    // Sweeping at a quarter of the idle time forgets a flow at most 25% late.
    this.sweeper = setInterval(() => this.sweep(), Math.max(50, Math.floor(this.o.idleMs / 4)));
  }

  /** Ports of the flows open now (the sources the helper sees). */
  get openPorts(): number[] {
    return [...this.flows.values()].map((f) => f.port);
  }

  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    for (const f of this.flows.values()) f.socket.close();
    this.flows.clear();
    this.listener.close();
  }

  private async fromClient(msg: Buffer, client: Endpoint): Promise<void> {
    const key = formatEndpoint(client);
    let flow = this.flows.get(key);
    if (!flow) {
      flow = await this.openFlow(client);
      this.flows.set(key, flow);
      this.o.onEvent?.({ event: 'flow-open', client: key, port: flow.port });
    }
    flow.lastActive = this.now();
    flow.socket.send(msg, this.o.target.port, this.o.target.address, (err) => {
      if (err) this.dropped++;
    });
  }

  private async openFlow(client: Endpoint): Promise<Flow> {
    const socket = createSocket(this.o.sourceAddress.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, this.o.sourceAddress, () => resolve());
    });
    const flow: Flow = { client, socket, port: socket.address().port, lastActive: this.now() };
    socket.on('message', (msg, r) => {
      if (r.address !== this.o.target.address || r.port !== this.o.target.port) {
        this.dropped++;
        return;
      }
      flow.lastActive = this.now();
      this.listener.send(msg, client.port, client.address, (err) => {
        if (err) this.dropped++;
      });
    });
    // An ICMP error on a flow socket (the helper is not listening yet) must not end the relay.
    socket.on('error', () => this.dropped++);
    return flow;
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, f] of this.flows) {
      const idle = now - f.lastActive;
      if (idle < this.o.idleMs) continue;
      this.flows.delete(key);
      f.socket.close();
      this.o.onEvent?.({ event: 'flow-forgotten', client: key, port: f.port, idleMs: idle });
    }
  }
}
