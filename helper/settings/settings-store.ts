// The user's settings: one JSON file (<state dir>/settings.json), validated on load and written atomically.
// A file that cannot be used (corrupt, truncated, unknown fields, written by a newer Gangway) is never
// overwritten in place: it is moved aside for the user to inspect, defaults are used, and `warning` says so.
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

export const settingsSchema = z
  .object({
    version: z.literal(1),
    routeNewNetworks: z.boolean(),
    networks: z.record(
      networkName,
      // allowPublic: the user allowed this network's public addresses to be routed (--allow-public).
      z.object({ routed: z.boolean(), allowPublic: z.literal(true).optional() }).strict(),
    ),
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
    /** Set when the file on disk could not be used; shown to the user (status, tray). */
    readonly warning: string | undefined,
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
      const parsed = settingsSchema.safeParse(JSON.parse(text));
      if (parsed.success) return new SettingsStore(file, parsed.data, undefined);
      const kept = withoutRefusedValues(JSON.parse(text), parsed.error);
      if (kept) {
        const warning = `The settings file ${file} held values that are no longer accepted, which are not used: ${describeIssues(parsed.error)}. The other settings are in use.`;
        opts.log?.warn(warning, {});
        return new SettingsStore(file, kept, warning);
      }
      const version = (JSON.parse(text) as { version?: unknown } | null)?.version;
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
      await writeFileAtomic(this.file, `${JSON.stringify(candidate, null, 2)}\n`);
      this.current = candidate;
      return structuredClone(candidate);
    });
    this.chain = next.catch(() => undefined);
    return next;
  }
}
