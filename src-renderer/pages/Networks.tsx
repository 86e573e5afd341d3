// Networks: one checkbox per Docker network, labelled with its name; subnets, conflicts and joined pairs.
import { useEffect, useId, useState } from 'react';
import type { Network } from '../../common/api';
import { PUBLIC_NOT_ROUTED, publicNote } from '../../common/private-ranges';
import { useGangway } from '../store';

function NetworkRow({ n }: { n: Network }) {
  const route = useGangway((s) => s.route);
  const busy = useGangway((s) => s.busy[`route:${n.name}`] ?? false);
  // The box follows the click at once; the daemon's answer (or the next event) settles it. It is never
  // disabled meanwhile: a disabled control loses the keyboard focus.
  const [pending, setPending] = useState<boolean | null>(null);
  // Public addresses are routed only after the user confirms it here (the CLI's --allow-public).
  const [confirming, setConfirming] = useState(false);
  const id = useId();
  const note = publicNote(n);
  const needsConfirm = note === PUBLIC_NOT_ROUTED;
  const state = n.routed ? 'routed' : n.wanted && !needsConfirm ? 'not routed' : 'off';
  const send = (routed: boolean, allowPublic = false) => {
    setPending(routed);
    void route(n.name, routed, allowPublic).finally(() => setPending(null));
  };
  return (
    <li className="network" data-network={n.name}>
      <label>
        <input
          type="checkbox"
          checked={pending ?? (n.wanted && !needsConfirm)}
          aria-busy={busy}
          aria-describedby={`${id}-detail`}
          onChange={(e) => {
            const routed = e.target.checked;
            if (routed && needsConfirm) return setConfirming(true);
            send(routed);
          }}
        />
        <span className="name">{n.name}</span>
      </label>
      <span id={`${id}-detail`} className="detail">
        {n.subnets.join(', ') || 'no subnet'} · {state}
        {n.internal && ' · internal'}
        {note && <span className="public"> · {note}</span>}
        {n.conflict && <span className="conflict"> · conflict: {n.conflict}</span>}
      </span>
      {confirming && (
        <div role="alertdialog" aria-labelledby={`${id}-confirm`} className="confirm">
          <p id={`${id}-confirm`}>
            {n.publicSubnets.join(', ')} {n.publicSubnets.length > 1 ? 'hold' : 'holds'} public addresses:
            routing {n.name} sends this computer&apos;s traffic for them (to anyone&apos;s servers there) into
            Docker&apos;s VM. Route it anyway?
          </p>
          <button
            type="button"
            onClick={() => {
              setConfirming(false);
              send(true, true);
            }}
          >
            Route public addresses
          </button>{' '}
          <button type="button" autoFocus onClick={() => setConfirming(false)}>
            Cancel
          </button>
        </div>
      )}
    </li>
  );
}

function Joins() {
  const data = useGangway((s) => s.networks.data);
  const join = useGangway((s) => s.join);
  const names = (data?.networks ?? []).map((n) => n.name);
  const [a, setA] = useState('');
  const [b, setB] = useState('');
  if (!data) return null;
  return (
    <section aria-labelledby="joins-title">
      <h2 id="joins-title">Joined networks</h2>
      <p className="help">Docker keeps networks apart; joined pairs may reach each other.</p>
      {data.joins.length === 0 ? (
        <p>No joined pairs.</p>
      ) : (
        <ul className="joins">
          {data.joins.map(([x, y]) => (
            <li key={`${x}\n${y}`}>
              {x} ↔ {y}{' '}
              <button
                type="button"
                aria-label={`Unjoin ${x} and ${y}`}
                onClick={() => void join(x, y, false)}
              >
                Unjoin
              </button>
            </li>
          ))}
        </ul>
      )}
      <form
        className="join-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (a && b && a !== b) void join(a, b, true);
        }}
      >
        <label>
          First network{' '}
          <select value={a} onChange={(e) => setA(e.target.value)}>
            <option value="">choose…</option>
            {names.map((n) => (
              <option key={n}>{n}</option>
            ))}
          </select>
        </label>{' '}
        <label>
          Second network{' '}
          <select value={b} onChange={(e) => setB(e.target.value)}>
            <option value="">choose…</option>
            {names.map((n) => (
              <option key={n}>{n}</option>
            ))}
          </select>
        </label>{' '}
        <button type="submit" disabled={!a || !b || a === b}>
          Join
        </button>
      </form>
    </section>
  );
}

export function Networks() {
  const { data, error } = useGangway((s) => s.networks);
  const load = useGangway((s) => s.load);
  // A disconnected daemon routes nothing; its list shows the choices that apply on Connect.
  const disconnected = useGangway(
    (s) => s.status.data?.agent.wanted === false && s.status.data.state !== 'connected',
  );
  useEffect(() => void load('networks'), [load]);
  if (error && !data) return <p className="banner error">{error.message}</p>;
  if (!data) return <p>Asking the helper…</p>;
  return (
    <>
      <section aria-labelledby="networks-title">
        <h2 id="networks-title">Routed to this computer</h2>
        {disconnected && (
          <p className="help" data-testid="networks-disconnected">
            Disconnected: nothing is routed now; these choices apply on Connect.
          </p>
        )}
        {data.networks.length === 0 ? (
          <p>No Docker networks with subnets (is Docker running?).</p>
        ) : (
          <ul className="networks">
            {data.networks.map((n) => (
              <NetworkRow key={n.id} n={n} />
            ))}
          </ul>
        )}
        <p className="help">
          New networks are {data.routeNewNetworks ? '' : 'not '}routed automatically (see{' '}
          <a href="#/settings">Settings</a>).
        </p>
      </section>
      <Joins />
    </>
  );
}
