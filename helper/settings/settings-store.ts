// The user's settings: one JSON file (<state dir>/settings.json), validated on load and written atomically.
// A file that cannot be used (corrupt, truncated, a known field with a bad value, written by a newer settings
// version) is never overwritten in place: it is moved aside for the user to inspect, defaults are used, and
// `warning` says so. Fields this version does not know (a newer Gangway's, read after a downgrade or by a
// helper of another version) are not a reason: they are ignored with a warning and written back untouched, so
// going back to the newer version finds them again.
import { mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { userSettingsSchema } from '../../common/api';
import type { Logger } from '../../common/log';
import { removeStaleTemps, writeFileAtomic } from '../../shared/atomic-file';

export const SETTINGS_FILE = 'settings.json';

/** Docker network names are data: any string Docker accepts, used only as a key and never in a command. */
const networkName = z
  .string()
  .min(1)
  .max(1024)
  .refine((s) => s !== '__proto__', 'not a usable network name');

// allowPublic: the user allowed this network's public addresses to be routed (--allow-public).
const networkEntrySchema = z
  .object({ routed: z.boolean(), allowPublic: z.literal(true).optional() })
  .strict();

// Both objects stay strict: an update that adds a field this version does not know is a bug, refused. Unknown
// fields in the file are split off before parsing (splitUnknown) rather than stripped by the schema, because
// zod reports them without a path to each key, and they are to be written back.
export const settingsSchema = z
  .object({
    version: z.literal(1),
    routeNewNetworks: z.boolean(),
    networks: z.record(networkName, networkEntrySchema),
    joins: z
      .array(z.tuple([networkName, networkName]).refine(([a, b]) => a !== b, 'a network cannot join itself'))
      .max(1024),
    /** The last `gangway up` (true) or `down` (false): a restarted daemon carries on as it was. */
    connected: z.boolean().optional(),
    // Values the user changed (gangway settings set, the app); absent ones come from the daemon's flags.
    ...userSettingsSchema.omit({ routeNewNetworks: true }).partial().shape,
  })
  .strict();

export type Settings = z.infer<typeof settingsSchema>;

export function defaultSettings(): Settings {
  return { version: 1, routeNewNetworks: true, networks: {}, joins: [] };
}

/** Fields of the file this version does not know, kept to be written back as they were. */
interface Unknown {
  top: Record<string, unknown>;
  /** Per network name; a network the user forgets takes its unknown fields with it. */
  networks: Record<string, Record<string, unknown>>;
  /** Their paths, for the warning (network names quoted: they may hold dots). */
  paths: string[];
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Object.fromEntries: an own "__proto__" key stays a plain key, never a prototype. */
function split(
  obj: Record<string, unknown>,
  known: Set<string>,
): [Record<string, unknown>, Record<string, unknown>] {
  const entries = Object.entries(obj);
  return [
    Object.fromEntries(entries.filter(([k]) => known.has(k))),
    Object.fromEntries(entries.filter(([k]) => !known.has(k))),
  ];
}

/** Anything that is not an object of objects is left whole, for the schema to refuse as before. */
function splitUnknown(data: unknown): { known: unknown; unknown: Unknown } {
  if (!isRecord(data)) return { known: data, unknown: { top: {}, networks: {}, paths: [] } };
  const [known, top] = split(data, new Set(Object.keys(settingsSchema.shape)));
  const paths = Object.keys(top);
  const extras: [string, Record<string, unknown>][] = [];
  if (isRecord(known.networks)) {
    const entryKeys = new Set(Object.keys(networkEntrySchema.shape));
    const networks = Object.entries(known.networks).map(([name, entry]) => {
      if (!isRecord(entry)) return [name, entry];
      const [kept, extra] = split(entry, entryKeys);
      if (Object.keys(extra).length) {
        extras.push([name, extra]);
        paths.push(...Object.keys(extra).map((k) => `networks[${JSON.stringify(name)}].${k}`));
      }
      return [name, kept];
    });
    known.networks = Object.fromEntries(networks);
  }
  return { known, unknown: { top, networks: Object.fromEntries(extras), paths } };
}

/** The settings with the file's unknown fields back in place (never a known key: split apart by name). */
function withUnknown(settings: Settings, unknown: Unknown): unknown {
  const networks = Object.entries(settings.networks).map(([name, entry]): [string, unknown] => [
    name,
    Object.hasOwn(unknown.networks, name) ? { ...entry, ...unknown.networks[name] } : entry,
  ]);
  return { ...settings, ...unknown.top, networks: Object.fromEntries(networks) };
}

function describeIssues(err: z.ZodError): string {
  return err.issues
    .slice(0, 5)
    .map((i) => `${i.path.join('.') || '(file)'}: ${i.message}`)
    .join('; ');
}

/**
 * A file that fails only on user settings a newer rule refuses (a public dnsSuffix, a public tunnelSubnet
 * saved by an older Gangway): those values are dropped, so the user's other choices (networks, joins) stay.
 */
function withoutRefusedValues(data: unknown, err: z.ZodError): Settings | undefined {
  const dropable = new Set(Object.keys(userSettingsSchema.shape).filter((k) => k !== 'routeNewNetworks'));
  const keys = new Set(err.issues.map((i) => String(i.path[0] ?? '')));
  if (typeof data !== 'object' || data === null || ![...keys].every((k) => dropable.has(k))) return undefined;
  const rest = { ...(data as Record<string, unknown>) };
  for (const k of keys) delete rest[k];
  const again = settingsSchema.safeParse(rest);
  return again.success ? again.data : undefined;
}

export class SettingsStore {
  private current: Settings;
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly file: string,
    initial: Settings,
    /** Set when the file on disk could not be used, or only in part; shown to the user (status, tray). */
    readonly warning: string | undefined,
    private readonly unknown: Unknown = { top: {}, networks: {}, paths: [] },
  ) {
    this.current = initial;
  }

  /** Reads <stateDir>/settings.json; a missing file means defaults, an unusable one is moved aside. */
  static load(stateDir: string, opts: { log?: Logger; now?: () => Date } = {}): SettingsStore {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const file = join(stateDir, SETTINGS_FILE);
    // Left by a crash during a write; settings.json itself is intact (old or new, never half of either).
    const stale = removeStaleTemps(file);
    if (stale.length) opts.log?.info('removed temp files of an interrupted settings write', { files: stale });
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        return new SettingsStore(file, defaultSettings(), undefined);
      throw err;
    }
    let problem: string;
    try {
      const data: unknown = JSON.parse(text);
      const { known, unknown } = splitUnknown(data);
      const ignored = unknown.paths.length
        ? `The settings file ${file} holds fields this version of Gangway does not know (from a newer one?), which are ignored and kept in the file: ${unknown.paths.slice(0, 10).join(', ')}${unknown.paths.length > 10 ? ', …' : ''}.`
        : undefined;
      const parsed = settingsSchema.safeParse(known);
      if (parsed.success) {
        if (ignored) opts.log?.warn(ignored, {});
        return new SettingsStore(file, parsed.data, ignored, unknown);
      }
      const kept = withoutRefusedValues(known, parsed.error);
      if (kept) {
        const refused = `The settings file ${file} held values that are no longer accepted, which are not used: ${describeIssues(parsed.error)}. The other settings are in use.`;
        const warning = ignored ? `${refused} ${ignored}` : refused;
        opts.log?.warn(warning, {});
        return new SettingsStore(file, kept, warning, unknown);
      }
      const version = (data as { version?: unknown } | null)?.version;
      problem =
        typeof version === 'number' && version > 1
          ? `it was written by a newer Gangway (settings version ${version})`
          : `it is not valid (${describeIssues(parsed.error)})`;
    } catch (err) {
      problem = `it is not valid JSON (${(err as Error).message})`;
    }
    const stamp = (opts.now?.() ?? new Date()).toISOString().replace(/[:.]/g, '-');
    const aside = `${file}.corrupt-${stamp}`;
    let warning: string;
    try {
      renameSync(file, aside);
      warning = `The settings file ${file} could not be used: ${problem}. It was kept as ${aside}; defaults are in use.`;
    } catch (err) {
      warning = `The settings file ${file} could not be used: ${problem}. Defaults are in use (it could not be moved aside: ${(err as Error).message}).`;
    }
    opts.log?.warn(warning, {});
    return new SettingsStore(file, defaultSettings(), warning);
  }

  /** A copy: changes go through update(). */
  get settings(): Settings {
    return structuredClone(this.current);
  }

  /**
   * Applies `change` to a copy of the settings, validates the result, writes it atomically and only then
   * makes it current. Updates run one at a time, each on the result of the one before. Rejects (and keeps
   * the old settings, on disk and in memory) when the result is invalid or cannot be written.
   */
  update(change: (draft: Settings) => Settings | void): Promise<Settings> {
    const next = this.chain.then(async () => {
      const draft = structuredClone(this.current);
      const candidate = settingsSchema.parse(change(draft) ?? draft);
      await writeFileAtomic(this.file, `${JSON.stringify(withUnknown(candidate, this.unknown), null, 2)}\n`);
      this.current = candidate;
      return structuredClone(candidate);
    });
    this.chain = next.catch(() => undefined);
    return next;
  }
}
