// Which signatures count as a developer's for the SMAppService path (src-main/codesign-team.ts), on the
// report `codesign -dv` prints for a Developer ID build, an ad-hoc build and a bundle signed without a team.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { signingIdentifier, teamIdentifier } from '../../src-main/codesign-team';

const DEVELOPER_ID = `Executable=/Applications/Gangway.app/Contents/MacOS/Gangway
Identifier=dev.gangway.app
Format=app bundle with Mach-O universal (x86_64 arm64)
CodeDirectory v=20500 size=1570 flags=0x10000(runtime) hashes=38+7 location=embedded
Signature size=8987
Authority=Developer ID Application: Gangway Developers (AB12CD34EF)
Authority=Developer ID Certification Authority
Authority=Apple Root CA
Timestamp=1 Dec 2026 at 10:00:00
Info.plist entries=30
TeamIdentifier=AB12CD34EF
Runtime Version=15.0.0
Sealed Resources version=2 rules=13 files=120
Internal requirements count=1 size=212
`;

const AD_HOC = `Executable=/Users/ana/dev/gangway/dist/mac-arm64/Gangway.app/Contents/MacOS/Gangway
Identifier=Electron
Format=app bundle with Mach-O thin (arm64)
CodeDirectory v=20400 size=524 flags=0x20002(adhoc,linker-signed) hashes=13+0 location=embedded
Signature=adhoc
Info.plist=not bound
TeamIdentifier=not set
Sealed Resources=none
Internal requirements=none
`;

test('a Developer ID signature has a team; ad hoc (the linker’s own) and none do not', () => {
  assert.equal(teamIdentifier(DEVELOPER_ID), 'AB12CD34EF');
  assert.equal(teamIdentifier(AD_HOC), undefined);
  assert.equal(teamIdentifier(''), undefined);
  assert.equal(teamIdentifier('/Applications/X.app: code object is not signed at all\n'), undefined);
  // An ad-hoc signature never has a team, whatever the line says.
  assert.equal(teamIdentifier(AD_HOC.replace('TeamIdentifier=not set', 'TeamIdentifier=XYZ')), undefined);
});

test("the signing identifier: a release's bundle id, the ad-hoc build's binary name", () => {
  assert.equal(signingIdentifier(DEVELOPER_ID), 'dev.gangway.app');
  assert.equal(signingIdentifier(AD_HOC), 'Electron');
  assert.equal(signingIdentifier('/x: code object is not signed at all\n'), undefined);
});
