// `gangway settings get [KEY]` and `gangway settings set KEY=VALUE ...`: the same settings the app's Settings
// page edits, through the same API (GET/PATCH /v1/settings), validated by the same schema before sending.
import { parseArgs } from 'node:util';
import {
  settingsPatchSchema,
  userSettingsSchema,
  type SettingsResponse,
  type UserSettings,
} from '../common/api';
import { callApi } from '../client/api-client';
import { ROUTES } from '../common/api-routes';
import { UsageError } from '../common/usage-error';
import { defaultSocketPath } from '../common/default-paths';

const KEYS = Object.keys(userSettingsSchema.shape) as (keyof UserSettings)[];

const HELP: Record<keyof UserSettings, string> = {
  tunnelSubnet: 'the tunnel’s two addresses come from it (a /30 or larger)',
  tunnelSubnet6: 'their IPv6 addresses: a unique-local fc00::/7 subnet; "off": no IPv6 (needs mtu ≥ 1280)',
  port: 'UDP port the agent dials',
  mtu: 'inner MTU of the tunnel',
  dnsSuffix: 'container names end in it (web.<suffix>)',
  dnsPort: 'port of Gangway’s DNS on the tunnel address; 0 turns DNS off',
  dockerHost: 'Docker’s API (unix:// or tcp://); "auto": DOCKER_HOST, context, platform default',
  routeNewNetworks: 'route networks Docker creates from now on (true/false)',
};

const USAGE = `Usage: gangway settings get [KEY] [--json] [--socket PATH]
       gangway settings set KEY=VALUE [KEY=VALUE ...] [--json] [--socket PATH]

Shows or changes the helper's settings. Changes are saved and applied at once, without a restart (moving
the tunnel's subnet, port or MTU interrupts traffic for a few seconds while the agent reconnects).

Keys:
${KEYS.map((k) => `  ${k.padEnd(17)} ${HELP[k]}`).join('\n')}`;

/** Turns KEY=VALUE words into a patch, typed per key. Throws UsageError on anything unclear. */
export function parseAssignments(words: string[]): Partial<UserSettings> {
  const patch: Record<string, unknown> = {};
  for (const w of words) {
    const eq = w.indexOf('=');
    if (eq <= 0) throw new UsageError(`expected KEY=VALUE, got "${w}"`);
    const key = w.slice(0, eq);
    const raw = w.slice(eq + 1);
    if (!(KEYS as string[]).includes(key))
      throw new UsageError(`unknown setting "${key}" (one of: ${KEYS.join(', ')})`);
    if (key in patch) throw new UsageError(`"${key}" is given twice`);
    switch (key as keyof UserSettings) {
      case 'port':
      case 'mtu':
      case 'dnsPort':
        if (!/^\d{1,6}$/.test(raw)) throw new UsageError(`${key} takes a whole number, got "${raw}"`);
        patch[key] = Number(raw);
        break;
      case 'routeNewNetworks':
        if (!['true', 'false', 'on', 'off'].includes(raw))
          throw new UsageError(`${key} takes true or false, got "${raw}"`);
        patch[key] = raw === 'true' || raw === 'on';
        break;
      case 'dockerHost':
        patch[key] = raw === 'auto' ? null : raw;
        break;
      case 'tunnelSubnet6':
        patch[key] = raw === 'off' ? null : raw;
        break;
      default:
        patch[key] = raw;
    }
  }
  const r = settingsPatchSchema.safeParse(patch);
  if (!r.success)
    throw new UsageError(
      r.error.issues.map((i) => `${i.path.join('.') || 'settings'}: ${i.message}`).join('\n'),
    );
  return r.data;
}

function show(value: UserSettings[keyof UserSettings], key?: keyof UserSettings): string {
  if (value === null) return key === 'tunnelSubnet6' ? 'off' : 'auto';
  return String(value);
}

export function formatSettings(r: SettingsResponse): string {
  const lines = KEYS.map((k) => `${k.padEnd(17)} ${show(r.settings[k], k)}`);
  return [...(r.warning ? [`Warning: ${r.warning}`, ''] : []), ...lines].join('\n');
}

export async function runSettingsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: { json: { type: 'boolean' }, socket: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const socket = values.socket ?? defaultSocketPath();
  const [verb, ...rest] = positionals;
  if (verb === 'get') {
    if (rest.length > 1) throw new UsageError(USAGE);
    const key = rest[0];
    if (key !== undefined && !(KEYS as string[]).includes(key))
      throw new UsageError(`unknown setting "${key}" (one of: ${KEYS.join(', ')})`);
    const r = await callApi(socket, ROUTES.settings);
    if (key !== undefined) {
      const v = r.settings[key as keyof UserSettings];
      console.log(values.json ? JSON.stringify(v) : show(v, key as keyof UserSettings));
    } else console.log(values.json ? JSON.stringify(r, null, 2) : formatSettings(r));
    return 0;
  }
  if (verb === 'set') {
    if (rest.length === 0) throw new UsageError(USAGE);
    const patch = parseAssignments(rest);
    if (!values.json) console.error('Applying...');
    // Moving the tunnel with a new port re-creates the agent container, which can take a while.
    const r = await callApi(socket, ROUTES.saveSettings, { body: patch, timeoutMs: 120_000 });
    console.log(values.json ? JSON.stringify(r, null, 2) : formatSettings(r));
    return 0;
  }
  throw new UsageError(USAGE);
}
