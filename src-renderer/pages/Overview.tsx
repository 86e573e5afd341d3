// Overview: the tunnel's state, the peer, live traffic, and the Connect/Disconnect button.
import { useEffect, useRef, useState } from 'react';
import type { Status } from '../../common/api';
import { phaseText } from '../../common/phase';
import { useGangway } from '../store';
import { formatBytes, formatRate, trafficRates, type Rates } from '../traffic';

/** Counters change without an event: poll while the page shows them. */
const TRAFFIC_POLL_MS = 1_000;

export function Overview() {
  const status = useGangway((s) => s.status.data);
  const busy = useGangway((s) => s.busy);
  const refreshStatus = useGangway((s) => s.refreshStatus);
  const connect = useGangway((s) => s.connect);
  const disconnect = useGangway((s) => s.disconnect);
  const [rates, setRates] = useState<Rates | null>(null);
  const last = useRef<{ s: Status; t: number } | null>(null);

  useEffect(() => {
    const timer = setInterval(() => void refreshStatus(), TRAFFIC_POLL_MS);
    return () => clearInterval(timer);
  }, [refreshStatus]);

  useEffect(() => {
    if (!status) return;
    const now = Date.now();
    if (last.current && now - last.current.t >= 500) {
      setRates(trafficRates(last.current.s, status, now - last.current.t));
      last.current = { s: status, t: now };
    } else if (!last.current) last.current = { s: status, t: now };
  }, [status]);

  if (!status) return <p>Asking the helper…</p>;
  const pump = status.counters.pump;
  const wanted = status.agent.wanted;
  const routed = status.routes.filter((r) => r.installed).length;
  return (
    <section aria-label="Tunnel">
      {status.settingsWarning && (
        <p className="banner warn" role="alert">
          {status.settingsWarning}
        </p>
      )}
      <p className={`state state-${status.phase}`} data-testid="tunnel-state">
        {phaseText(status)}
      </p>
      {status.docker.engine?.rootless && status.docker.engine.refusal ? (
        <p className="banner error" data-testid="engine-refusal">
          {status.docker.engine.refusal}
        </p>
      ) : (
        status.agent.lastError && <p className="banner error">{status.agent.lastError}</p>
      )}
      <button
        type="button"
        className="primary"
        disabled={busy.connect || busy.disconnect}
        onClick={() => void (wanted ? disconnect() : connect())}
      >
        {busy.connect
          ? 'Connecting…'
          : busy.disconnect
            ? 'Disconnecting…'
            : wanted
              ? 'Disconnect'
              : 'Connect'}
      </button>
      <dl className="facts">
        <dt>Peer</dt>
        <dd>
          {status.peer ?? '—'}
          {status.lastHeardMs !== null && ` (heard ${(status.lastHeardMs / 1000).toFixed(1)} s ago)`}
        </dd>
        <dt>Tunnel</dt>
        <dd>
          {status.tunnel.device} {status.tunnel.hostAddress} ↔ {status.tunnel.agentAddress}, MTU{' '}
          {status.tunnel.mtu}, UDP {status.tunnel.listen}
        </dd>
        <dt>IPv6</dt>
        <dd>
          {status.tunnel.hostAddress6 && status.tunnel.agentAddress6
            ? `${status.tunnel.hostAddress6} ↔ ${status.tunnel.agentAddress6}`
            : (status.tunnel.ipv6Off ?? 'off')}
        </dd>
        <dt>Docker</dt>
        <dd>
          {status.docker.enabled ? status.docker.state : 'not followed'}
          {status.docker.endpoint && ` (${status.docker.endpoint})`}
          {status.docker.lastError && `: ${status.docker.lastError}`}
        </dd>
        {status.docker.engine && (
          <>
            <dt>Engine</dt>
            <dd data-testid="engine">
              {status.docker.engine.label}, the agent dials {status.docker.engine.agentDial}
              {status.docker.engine.routesItself &&
                status.docker.engine.source === 'detected' &&
                ' (it routes container IPs itself: Gangway stays out of its way)'}
            </dd>
          </>
        )}
        <dt>Routes</dt>
        <dd>{routed} routed</dd>
        <dt>DNS</dt>
        <dd data-testid="dns">
          {status.dns.enabled
            ? `*.${status.dns.suffix} on ${status.dns.listen ?? '(not listening)'}, ${
                status.dns.resolver ? `registered (${status.dns.resolver})` : 'not registered with the OS'
              }`
            : 'off'}
          {status.dns.lastError && `: ${status.dns.lastError}`}
        </dd>
        <dt>Traffic to the VM</dt>
        <dd data-testid="traffic-to-vm">
          {rates ? formatRate(rates.toVmBps) : '…'} ({formatBytes(pump.udpTxBytes ?? 0)} in all)
        </dd>
        <dt>Traffic from the VM</dt>
        <dd data-testid="traffic-from-vm">
          {rates ? formatRate(rates.fromVmBps) : '…'} ({formatBytes(pump.tunTxBytes ?? 0)} in all)
        </dd>
        <dt>Helper</dt>
        <dd>version {status.version}</dd>
      </dl>
    </section>
  );
}
