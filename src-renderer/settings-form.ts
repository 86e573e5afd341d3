// The Settings page's form logic, kept apart from React: each field's text is checked as it is typed with
// the same zod schema the daemon uses, and only changed fields are sent.
import { userSettingsSchema, type SettingsPatch, type UserSettings } from '../common/api';

export type TextField =
  'tunnelSubnet' | 'tunnelSubnet6' | 'port' | 'mtu' | 'dnsSuffix' | 'dnsPort' | 'dockerHost';

export interface FieldSpec {
  key: TextField;
  label: string;
  kind: 'text' | 'number';
  help: string;
}

export const SETTINGS_FIELDS: FieldSpec[] = [
  {
    key: 'tunnelSubnet',
    label: 'Tunnel subnet',
    kind: 'text',
    help: 'The two tunnel addresses come from here (/30 or larger).',
  },
  {
    key: 'tunnelSubnet6',
    label: 'IPv6 tunnel subnet',
    kind: 'text',
    help: 'Their IPv6 addresses: a unique-local (fc00::/7) subnet; empty turns IPv6 off. Needs MTU ≥ 1280.',
  },
  { key: 'port', label: 'Tunnel port', kind: 'number', help: 'UDP port the agent dials.' },
  { key: 'mtu', label: 'MTU', kind: 'number', help: 'Inner packet size; 1420 suits Docker Desktop.' },
  { key: 'dnsSuffix', label: 'DNS suffix', kind: 'text', help: 'Containers answer as NAME.SUFFIX.' },
  { key: 'dnsPort', label: 'DNS port', kind: 'number', help: '0 turns Gangway’s DNS off.' },
  {
    key: 'dockerHost',
    label: 'Docker endpoint',
    kind: 'text',
    help: 'unix:// or tcp://; empty: DOCKER_HOST, the current context, the default.',
  },
];

export type Draft = Record<TextField, string> & { routeNewNetworks: boolean };

export function draftFrom(s: UserSettings): Draft {
  return {
    tunnelSubnet: s.tunnelSubnet,
    tunnelSubnet6: s.tunnelSubnet6 ?? '',
    port: String(s.port),
    mtu: String(s.mtu),
    dnsSuffix: s.dnsSuffix,
    dnsPort: String(s.dnsPort),
    dockerHost: s.dockerHost ?? '',
    routeNewNetworks: s.routeNewNetworks,
  };
}

type Parsed = { ok: true; value: unknown } | { ok: false; error: string };

export function parseField(key: TextField, text: string): Parsed {
  let value: unknown = text.trim();
  const spec = SETTINGS_FIELDS.find((f) => f.key === key);
  if (spec?.kind === 'number') {
    if (!/^\d+$/.test(text.trim())) return { ok: false, error: 'a whole number' };
    value = Number(text.trim());
  }
  if ((key === 'dockerHost' || key === 'tunnelSubnet6') && value === '') value = null;
  const r = userSettingsSchema.shape[key].safeParse(value);
  return r.success
    ? { ok: true, value: r.data }
    : { ok: false, error: r.error.issues[0]?.message ?? 'invalid' };
}

/** Per-field errors of a draft (empty when every field is valid). */
export function draftErrors(d: Draft): Partial<Record<TextField, string>> {
  const errors: Partial<Record<TextField, string>> = {};
  for (const f of SETTINGS_FIELDS) {
    const p = parseField(f.key, d[f.key]);
    if (!p.ok) errors[f.key] = p.error;
  }
  return errors;
}

/** The fields that differ from the saved settings, ready for PATCH (only call on a valid draft). */
export function patchFrom(d: Draft, saved: UserSettings): SettingsPatch {
  const patch: Record<string, unknown> = {};
  for (const f of SETTINGS_FIELDS) {
    const p = parseField(f.key, d[f.key]);
    if (p.ok && p.value !== saved[f.key]) patch[f.key] = p.value;
  }
  if (d.routeNewNetworks !== saved.routeNewNetworks) patch.routeNewNetworks = d.routeNewNetworks;
  return patch;
}
