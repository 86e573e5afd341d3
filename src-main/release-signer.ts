// Who a release build of the app expects to be signed by. `codesign -dv <pid>` reads the signature of the
// executable file the process was started from, so a program of the user's that replaces that file makes the
// app look unsigned (or another team's), and an unsigned app installs by the copy method unverified. A release
// build therefore carries its Team ID in its own package.json (set at packaging: `npm pkg set
// gangwaySigner.team=<Team ID>`), read once as the app starts, and holds what it finds on disk to it.

/** electron-builder.yml's appId: the signing identifier of a release's main executable. */
export const APP_IDENTIFIER = 'dev.gangway.app';

export interface Signer {
  team: string;
  identifier: string;
}

/** The signer a package.json names (`gangwaySigner.team`), or undefined: a build not meant to be signed. */
export function expectedSigner(pkg: unknown): Signer | undefined {
  const team = (pkg as { gangwaySigner?: { team?: unknown } } | null)?.gangwaySigner?.team;
  if (typeof team !== 'string' || team === '') return undefined;
  if (!/^[A-Z0-9]{10}$/.test(team)) throw new Error(`package.json gangwaySigner.team is no Team ID: ${team}`);
  return { team, identifier: APP_IDENTIFIER };
}

/** What `codesign` said of the running app: its executable's signer, and the bundle's verification. */
export interface SignatureSeen {
  team?: string | undefined;
  identifier?: string | undefined;
  /** `codesign --verify --deep --strict` of the bundle failed: its words. */
  broken?: string | undefined;
}

/** The signature the install goes by: a release build's own expectation when it has one (anything else on
 *  disk is "broken", which refuses the install), else what codesign saw. */
export function judgeSignature(expected: Signer | undefined, seen: SignatureSeen): SignatureSeen {
  if (!expected) return seen;
  if (seen.team !== expected.team || seen.identifier !== expected.identifier)
    return {
      ...expected,
      broken:
        `its executable is signed by ${seen.team ?? 'no developer'} (${seen.identifier ?? 'no identifier'}), ` +
        `not ${expected.team} (${expected.identifier})`,
    };
  return { ...expected, broken: seen.broken };
}
