// Whether a bundle is signed by a developer, not only ad hoc: on Apple Silicon every binary carries at least
// an ad-hoc signature (the linker adds one), which `codesign --verify` accepts. Background items registered
// through SMAppService are attributed to the signer's Team ID (Login Items lists them by it), and ad-hoc
// builds are reported to fail or lose their registration (frobware/cmd-key-happy checks for a TeamIdentifier
// before it registers), so an ad-hoc build takes the copy method instead. Only a real Mac can say more.

/** The TeamIdentifier in `codesign -dv`'s report (printed on stderr), or undefined for ad-hoc or none. */
export function teamIdentifier(codesignDisplay: string): string | undefined {
  const team = /^TeamIdentifier=(.+)$/m.exec(codesignDisplay)?.[1]?.trim();
  if (!team || team === 'not set') return undefined;
  if (/^Signature=adhoc$/m.test(codesignDisplay)) return undefined;
  return team;
}

/** The signing identifier in `codesign -dv`'s report (the bundle id a release is signed with). */
export function signingIdentifier(codesignDisplay: string): string | undefined {
  return /^Identifier=(.+)$/m.exec(codesignDisplay)?.[1]?.trim() || undefined;
}
