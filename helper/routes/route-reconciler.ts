// Applies route plans through the NetPlatform: reads the host's routing table, plans, adds what is missing
// and deletes what Gangway added and no longer wants. Only routes this reconciler added are ever deleted,
// and always with the TUN as their device, so a LAN, VPN or default route is never touched.
//
// One reconcile runs at a time. Requests that arrive meanwhile are coalesced: the next run uses the latest
// request, and everyone who asked gets its result. Failures are reported per route, never thrown, because
// one bad route must not stop the others (or the daemon).
import { formatCidr, parseCidr } from '../../common/cidr';
import type { Logger } from '../../common/log';
import type { NetPlatform } from '../../shared/platform/net-platform';
import { planRoutes, type PlanInput, type RoutePlan } from './route-planner';

export type ReconcileRequest = Omit<PlanInput, 'hostRoutes' | 'device'>;

export interface RouteError {
  /** Empty for a failure that concerns no single route (reading the routing table). */
  cidr: string;
  op: 'add' | 'delete' | 'list';
  error: string;
}

/** Shaped like the control API's `routes` entries (common/api.ts). */
export interface RouteStatus {
  cidr: string;
  installed: boolean;
  error?: string;
}

export interface ReconcileResult {
  /** Undefined when the routing table could not be read (nothing was changed then). */
  plan: RoutePlan | undefined;
  added: string[];
  deleted: string[];
  errors: RouteError[];
  /** Every route Gangway has or wants, with why it is missing. */
  routes: RouteStatus[];
}

type Job = { kind: 'plan'; request: ReconcileRequest } | { kind: 'clear' };

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function norm(destination: string): string | undefined {
  const c = parseCidr(destination);
  return c ? formatCidr(c) : undefined;
}

export class RouteReconciler {
  private readonly ours = new Set<string>();
  private pending: { job: Job; waiters: ((r: ReconcileResult) => void)[] } | undefined;
  private running: Promise<void> | undefined;
  private closed = false;
  private lastResult: ReconcileResult | undefined;

  constructor(
    private readonly net: NetPlatform,
    private readonly device: string,
    private readonly log?: Logger,
  ) {}

  /** Routes this reconciler added and has not removed. */
  get installed(): string[] {
    return [...this.ours];
  }

  get last(): ReconcileResult | undefined {
    return this.lastResult;
  }

  /** Plans against the current routing table and applies the plan. Never rejects. */
  reconcile(request: ReconcileRequest): Promise<ReconcileResult> {
    if (this.closed) return Promise.resolve(this.lastResult ?? this.result(undefined, [], [], []));
    return this.enqueue({ kind: 'plan', request });
  }

  /** Removes every route this reconciler added; later reconcile() calls change nothing. */
  close(): Promise<ReconcileResult> {
    this.closed = true;
    return this.enqueue({ kind: 'clear' });
  }

  private enqueue(job: Job): Promise<ReconcileResult> {
    return new Promise((resolve) => {
      // A clear wins over a plan that has not started yet: after close() nothing may be added.
      const keep = this.pending?.job.kind === 'clear' ? this.pending.job : job;
      this.pending = { job: keep, waiters: [...(this.pending?.waiters ?? []), resolve] };
      this.running ??= this.drain();
    });
  }

  private async drain(): Promise<void> {
    // Each pass consumes the pending job; it ends as soon as no request came in during the last pass.
    while (this.pending) {
      const { job, waiters } = this.pending;
      this.pending = undefined;
      let result: ReconcileResult;
      try {
        result = job.kind === 'clear' ? await this.apply([], undefined) : await this.plan(job.request);
      } catch (err) {
        // Only a bug gets here; the waiters must still hear back.
        result = this.result(undefined, [], [], [{ cidr: '', op: 'list', error: errorText(err) }]);
      }
      this.lastResult = result;
      for (const w of waiters) w(result);
    }
    this.running = undefined;
  }

  private async plan(request: ReconcileRequest): Promise<ReconcileResult> {
    let hostRoutes;
    try {
      hostRoutes = await this.net.listRoutes();
    } catch (err) {
      this.log?.error('cannot read the routing table; routes left as they are', { error: errorText(err) });
      return this.result(undefined, [], [], [{ cidr: '', op: 'list', error: errorText(err) }]);
    }
    const plan = planRoutes({ ...request, hostRoutes, device: this.device });
    const onTun = new Set(
      hostRoutes.filter((r) => r.device === this.device).flatMap((r) => norm(r.destination) ?? []),
    );
    // A route of ours that vanished (deleted by hand, or by the OS) is added again below if still wanted.
    for (const c of this.ours) if (!onTun.has(c)) this.ours.delete(c);
    return this.apply(plan.routes, plan);
  }

  private async apply(desired: string[], plan: RoutePlan | undefined): Promise<ReconcileResult> {
    const want = new Set(desired);
    const added: string[] = [];
    const deleted: string[] = [];
    const errors: RouteError[] = [];
    // Delete first, so a subnet that moved never overlaps itself for a moment.
    for (const cidr of [...this.ours].filter((c) => !want.has(c))) {
      try {
        await this.net.deleteRoute(cidr, this.device);
        this.ours.delete(cidr);
        deleted.push(cidr);
      } catch (err) {
        errors.push({ cidr, op: 'delete', error: errorText(err) });
        this.log?.warn('could not remove a route', { cidr, error: errorText(err) });
      }
    }
    for (const cidr of desired.filter((c) => !this.ours.has(c))) {
      try {
        await this.net.addRoute(cidr, this.device);
        this.ours.add(cidr);
        added.push(cidr);
      } catch (err) {
        errors.push({ cidr, op: 'add', error: errorText(err) });
        this.log?.error('could not add a route', { cidr, error: errorText(err) });
      }
    }
    if (added.length || deleted.length) this.log?.info('routes changed', { added, deleted });
    return this.result(plan, added, deleted, errors);
  }

  private result(
    plan: RoutePlan | undefined,
    added: string[],
    deleted: string[],
    errors: RouteError[],
  ): ReconcileResult {
    const status = new Map<string, RouteStatus>();
    for (const c of plan?.routes ?? []) status.set(c, { cidr: c, installed: this.ours.has(c) });
    for (const c of this.ours) status.set(c, { cidr: c, installed: true });
    const wantedConflicts = [
      ...(plan?.networks ?? []).filter((n) => n.wanted).flatMap((n) => n.subnets),
      ...(plan?.static ?? []),
    ];
    for (const s of wantedConflicts)
      if (s.conflict && !status.has(s.cidr))
        status.set(s.cidr, { cidr: s.cidr, installed: false, error: s.conflict });
    for (const e of errors) {
      const s = status.get(e.cidr);
      if (s) s.error = e.op === 'delete' ? `could not remove it: ${e.error}` : e.error;
    }
    return { plan, added, deleted, errors, routes: [...status.values()] };
  }
}
