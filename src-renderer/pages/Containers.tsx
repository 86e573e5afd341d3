// Containers: name, network, addresses and DNS names, with copy buttons. An older helper has no
// /v1/containers: say so instead of showing an error.
import { useEffect } from 'react';
import { useGangway } from '../store';

function Copy({ text, what }: { text: string; what: string }) {
  return (
    <button
      type="button"
      className="copy"
      aria-label={`Copy ${what}`}
      onClick={() => void navigator.clipboard?.writeText(text).catch(() => undefined)}
    >
      Copy
    </button>
  );
}

export function Containers() {
  const { data, error } = useGangway((s) => s.containers);
  const load = useGangway((s) => s.load);
  useEffect(() => void load('containers'), [load]);
  if (error?.status === 404 && !data)
    return (
      <p className="banner warn" role="status">
        This helper does not list containers yet — update it.
      </p>
    );
  if (error && !data) return <p className="banner error">{error.message}</p>;
  if (!data) return <p>Asking the helper…</p>;
  return (
    <section aria-label="Containers">
      <p className="help">
        DNS {data.dns.enabled ? `answers *.${data.dns.suffix}` : 'is off'}
        {data.dns.listen && ` on ${data.dns.listen}`}
        {data.dns.lastError && ` — ${data.dns.lastError}`}
      </p>
      {data.containers.length === 0 ? (
        <p>No running containers.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Container</th>
              <th scope="col">Network</th>
              <th scope="col">Address</th>
              <th scope="col">DNS names</th>
            </tr>
          </thead>
          <tbody>
            {data.containers.flatMap((c) =>
              c.networks.map((n, i) => (
                <tr key={`${c.id}/${n.network}`}>
                  <td>{i === 0 ? c.name : ''}</td>
                  <td>
                    {n.network}
                    {!n.routed && ' (not routed)'}
                  </td>
                  <td>
                    {n.ipv4 ?? n.ipv6 ?? '—'}{' '}
                    {(n.ipv4 ?? n.ipv6) && (
                      <Copy text={(n.ipv4 ?? n.ipv6)!} what={`${c.name}'s address on ${n.network}`} />
                    )}
                  </td>
                  <td>
                    {i === 0 &&
                      c.dnsNames.map((d) => (
                        <span key={d} className="dns">
                          {d} <Copy text={d} what={d} />
                        </span>
                      ))}
                  </td>
                </tr>
              )),
            )}
          </tbody>
        </table>
      )}
      {data.collisions.length > 0 && (
        <p className="banner warn">
          Names claimed by more than one container:{' '}
          {data.collisions.map((c) => `${c.name} (${c.containers.join(', ')})`).join('; ')}
        </p>
      )}
    </section>
  );
}
