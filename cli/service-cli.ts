// `gangway service install|uninstall|status [--json]`. Wired into cli/gangway.ts's COMMANDS.
import { parseArgs } from 'node:util';

import { ApiError, callApi } from '../client/api-client';
import { ROUTES } from '../common/api-routes';
import { defaultSocketPath } from '../common/default-paths';
// Installing is root's work on the daemon's own files: that code loads only by dynamic import, below.
import type { copyHelper } from '../helper/service/helper-copy';
import type { PlanInput } from '../helper/service/install-plan';
import type { InstallOptions, ServiceManager } from '../helper/service/service-manager';

const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

export const SERVICE_USAGE = `Usage: gangway service <install|uninstall|status> [options] [-- daemon args]

Runs the Gangway helper as a system service (systemd on Linux, launchd on macOS).

Commands:
  install      copy the helper into a root-owned directory (Linux: /usr/local/lib/gangway/VERSION,
               macOS: /Library/PrivilegedHelperTools/dev.gangway.helper), write the unit / plist that
               runs that copy, and start the service (needs root: sudo). Refused when the runtime
               (node) could be changed by a user other than root; on macOS a runtime inside an app
               bundle (Gangway.app) is copied there too, the whole bundle.
  uninstall    disconnect (remove the agent container and the DNS resolver entry), stop the
               service (its routes go with its device), remove the unit / plist and the copied
               helper (needs root)
  status       whether the service is installed and running

Options:
  --json               machine-readable output
  --dry-run            install: print the unit / plist and the files it would copy; change nothing
  --socket PATH        control socket (install, uninstall; default: the daemon's)
  --state-dir DIR      state directory (install; default: the daemon's)
  --log-file FILE      where the service writes its output (install)
  --socket-owner U:G   the user (uid:gid) given the control socket (install; default: the sudo caller)
  --copy-app           install, macOS: copy the runtime's app bundle even when only root can change it
                       (the app's install runs from a staged copy that is removed afterwards)
  --expect-version V   install: refuse unless this helper is version V (the app names its own)
  -h, --help           this text

Arguments after -- are passed to \`gangway daemon\` unchanged (install).`;

export interface ServiceCliDeps {
  manager?: ServiceManager;
  out?: (s: string) => void;
  err?: (s: string) => void;
  isRoot?: () => boolean;
  /** Base install options (tests); flags override them. */
  installDefaults?: () => InstallOptions;
  /** Removes DNS registrations a daemon left behind (uninstall); returns what it removed. */
  removeDnsRegistrations?: () => Promise<string[]>;
  /** Asks the running daemon to disconnect (uninstall); resolves to what it did. */
  disconnect?: (socket: string) => Promise<string>;
  /** The bundle directory install copies (default: the one this CLI runs from, or dist/bundle). */
  bundleDir?: () => string;
  /** Overrides parts of the install plan's input (tests: the destination, ownership lookups). */
  plan?: Partial<PlanInput>;
  /** Copies the helper (default copyHelper) and removes it again (uninstall; returns what it removed). */
  copyHelper?: typeof copyHelper;
  removeHelperCopies?: () => string[];
  platform?: NodeJS.Platform;
}

/** Tells the daemon to remove what it made outside itself (agent container, resolver entry). */
async function disconnectDaemon(socket: string): Promise<string> {
  try {
    const s = await callApi(socket, ROUTES.disconnect, { timeoutMs: 60_000 });
    const removed = [
      ...(s.docker.enabled ? ['the agent container'] : []),
      ...(s.dns.enabled ? ['the DNS resolver entry'] : []),
    ];
    return removed.length ? `disconnected: removed ${removed.join(' and ')}` : 'disconnected';
  } catch (e) {
    if (e instanceof ApiError && e.code === 'DAEMON_UNREACHABLE')
      return 'the daemon was not running; an agent container left in Docker can be removed with "docker rm -f gangway-agent"';
    throw e;
  }
}

export async function runServiceCommand(argv: string[], deps: ServiceCliDeps = {}): Promise<number> {
  const out = deps.out ?? ((s: string) => console.log(s));
  const err = deps.err ?? ((s: string) => console.error(s));
  const dash = argv.indexOf('--');
  const own = dash === -1 ? argv : argv.slice(0, dash);
  const extraArgs = dash === -1 ? [] : argv.slice(dash + 1);
  let parsed;
  try {
    parsed = parseArgs({
      args: own,
      allowPositionals: true,
      options: {
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        socket: { type: 'string' },
        'state-dir': { type: 'string' },
        'log-file': { type: 'string' },
        'socket-owner': { type: 'string' },
        'dry-run': { type: 'boolean' },
        'copy-app': { type: 'boolean' },
        'expect-version': { type: 'string' },
      },
    });
  } catch (e) {
    err(`gangway service: ${(e as Error).message}\n\n${SERVICE_USAGE}`);
    return EXIT.usage;
  }
  const { values: v, positionals } = parsed;
  if (v.help) {
    out(SERVICE_USAGE);
    return EXIT.ok;
  }
  const [sub, ...rest] = positionals;
  const usage = (msg: string): number => {
    err(`gangway service: ${msg}\n\n${SERVICE_USAGE}`);
    return EXIT.usage;
  };
  if (!sub) return usage('missing command');
  if (!['install', 'uninstall', 'status'].includes(sub)) return usage(`unknown command "${sub}"`);
  if (rest.length > 0) return usage(`unexpected argument "${rest[0]}"`);
  if (sub !== 'install' && (v['state-dir'] || v['log-file'] || v['socket-owner'] || dash !== -1)) {
    return usage(`--state-dir, --log-file, --socket-owner and -- apply to install only`);
  }
  // The app's administrator prompt (osascript, pkexec) sets no SUDO_UID: it names the user itself.
  const ownerFlag = v['socket-owner'];
  const ownerMatch = ownerFlag === undefined ? undefined : /^(\d{1,10}):(\d{1,10})$/.exec(ownerFlag);
  if (ownerFlag !== undefined && !ownerMatch)
    return usage(`--socket-owner takes UID:GID (numbers), got "${ownerFlag}"`);
  if (sub === 'status' && v.socket) return usage('--socket applies to install and uninstall only');
  if (sub !== 'install' && v['dry-run']) return usage('--dry-run applies to install only');
  if (sub !== 'install' && (v['copy-app'] || v['expect-version'] !== undefined))
    return usage('--copy-app and --expect-version apply to install only');
  const isRoot = deps.isRoot ?? (() => process.getuid?.() === 0);
  const dryRun = v['dry-run'] === true;
  if (sub !== 'status' && !dryRun && !isRoot()) {
    err(`gangway service ${sub}: must be run as root (try: sudo gangway service ${sub})`);
    return EXIT.failure;
  }
  try {
    if (!deps.manager) {
      const dropped = (await import('../helper/service/trusted-path.js')).narrowPathForRoot(isRoot());
      for (const d of dropped) err(`gangway service: PATH: left out ${d.dir} (${d.why})`);
    }
    const manager =
      deps.manager ?? (await import('../helper/service/service-factory.js')).createServiceManager();
    if (sub === 'install') {
      const base =
        deps.installDefaults?.() ??
        (await import('../helper/service/service-manager.js')).defaultInstallOptions();
      const opts: InstallOptions = {
        ...base,
        ...(v.socket !== undefined && { socketPath: v.socket }),
        ...(v['state-dir'] !== undefined && { stateDir: v['state-dir'] }),
        ...(v['log-file'] !== undefined && { logFile: v['log-file'] }),
        ...(ownerMatch && {
          owner: {
            uid: Number(ownerMatch[1]),
            gid: Number(ownerMatch[2]),
            user: Number(ownerMatch[1]) === base.owner.uid ? base.owner.user : `uid ${ownerMatch[1]}`,
          },
        }),
        extraArgs: [...base.extraArgs, ...extraArgs],
      };
      const platform = deps.platform ?? process.platform;
      const { checkInstalledCopy, describePlan, planServiceInstall } =
        await import('../helper/service/install-plan.js');
      const { copyHelper, pruneOtherVersions } = await import('../helper/service/helper-copy.js');
      const { bundleDir } = await import('../helper/bundle-dir.js');
      const { VERSION } = await import('../helper/version.js');
      // The app stages its bundle and names its own version: another version here means the bundle was
      // swapped (an older signed build, say) between the app's start and the copy.
      const expected = v['expect-version'];
      if (expected !== undefined && expected !== VERSION) {
        err(
          `gangway service install: refused, nothing was changed: this helper is version ${VERSION}, and the app ` +
            `that started the install is ${expected}; its bundle was changed meanwhile. Install Gangway again`,
        );
        return EXIT.failure;
      }
      const plan = planServiceInstall({
        platform,
        version: VERSION,
        bundleDir: (deps.bundleDir ?? bundleDir)(),
        base: opts,
        copyApp: v['copy-app'] === true,
        ...deps.plan,
      });
      if (dryRun) {
        const text = manager.render(plan.options);
        if (v.json) out(JSON.stringify({ path: manager.path, text, ...plan }));
        else out(describePlan(plan, manager.path, text));
        return plan.refusals.length ? EXIT.failure : EXIT.ok;
      }
      if (plan.refusals.length) {
        err(
          `gangway service install: refused, nothing was changed:\n${plan.refusals.map((r) => `- ${r}`).join('\n')}`,
        );
        return EXIT.failure;
      }
      if (plan.app) {
        // Some 250 MB: seconds of silence otherwise.
        const line = `copying ${plan.app.from} into ${plan.dest}, as the service's runtime (a few seconds)`;
        if (v.json) err(line);
        else out(line);
      }
      (deps.copyHelper ?? copyHelper)(plan.files, plan.dest, plan.app);
      const unsafe = checkInstalledCopy(plan, deps.plan?.ownership);
      if (unsafe.length) {
        err(
          `gangway service install: the copied helper can still be changed by a user other than root:\n${unsafe.map((r) => `- ${r}`).join('\n')}`,
        );
        return EXIT.failure;
      }
      const r = await manager.install(plan.options);
      if (!deps.plan?.dest) pruneOtherVersions(platform, plan.dest);
      if (v.json)
        out(JSON.stringify({ ...r, helper: plan.dest, runtime: plan.options.nodePath, owner: opts.owner }));
      else {
        out(
          `copied the helper into ${plan.dest}${plan.app ? `, and its runtime ${plan.options.nodePath}` : ''}`,
        );
        out(`wrote ${r.path}`);
        if (r.started)
          out(`started ${manager.kind} service; control socket ${opts.socketPath} for ${opts.owner.user}`);
        if (opts.owner.uid === 0)
          err('note: installed by root without sudo; only root can use the control socket');
      }
      for (const w of r.warnings) if (!v.json) err(`warning: ${w}`);
      return r.started ? EXIT.ok : EXIT.failure;
    }
    if (sub === 'uninstall') {
      let disconnected: string;
      try {
        disconnected = await (deps.disconnect ?? disconnectDaemon)(v.socket ?? defaultSocketPath());
      } catch (e) {
        // Uninstalling must still work when the daemon is wedged; say what may be left behind.
        disconnected = `could not disconnect first (${(e as Error).message}); check "docker ps" for gangway-agent`;
      }
      const r = await manager.uninstall();
      // The stopped daemon removed its DNS registration; this catches one that was killed.
      const removeDns =
        deps.removeDnsRegistrations ??
        (await import('../helper/dns/resolver.js')).removeLeftoverRegistrations;
      const dns = await removeDns().catch((e: Error) => {
        r.warnings.push(`could not remove Gangway's DNS registration: ${e.message}`);
        return [];
      });
      r.removed.push(...dns);
      try {
        if (deps.removeHelperCopies) r.removed.push(...deps.removeHelperCopies());
        else {
          const copies = await import('../helper/service/helper-copy.js');
          r.removed.push(...copies.removeHelperCopies(copies.helperInstallRoot(process.platform)));
        }
      } catch (e) {
        r.warnings.push(`could not remove the copied helper: ${(e as Error).message}`);
      }
      if (v.json) out(JSON.stringify({ ...r, disconnected }));
      else {
        out(disconnected);
        out(
          r.removed.length
            ? `removed ${r.removed.join(', ')}`
            : 'the service was not installed; nothing removed',
        );
        for (const w of r.warnings) err(`warning: ${w}`);
      }
      return EXIT.ok;
    }
    const s = await manager.status();
    if (v.json) out(JSON.stringify(s));
    else {
      out(`${s.manager} service ${s.installed ? `installed (${s.path})` : 'not installed'}`);
      out(
        s.running
          ? `running${s.pid ? ` (pid ${s.pid})` : ''}`
          : `not running${s.detail ? ` (${s.detail})` : ''}`,
      );
    }
    return s.installed && s.running ? EXIT.ok : EXIT.failure;
  } catch (e) {
    err(`gangway service ${sub}: ${(e as Error).message}`);
    return EXIT.failure;
  }
}
