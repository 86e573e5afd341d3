import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type Dockerode from 'dockerode';
import {
  agentArch,
  describeBinary,
  pickAgentAddon,
  prebuiltAddonPath,
  vmArch,
} from '../../helper/docker/agent-addon';

const ADDON = path.resolve(__dirname, '..', '..', '..', 'native', 'build', 'Release', 'gangway_native.node');
const dir = mkdtempSync(path.join(tmpdir(), 'gangway-addon-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A 64-bit little-endian ELF header for machine `m`, the rest zero. */
function elf(m: number): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = 2;
  b[5] = 1;
  b.writeUInt16LE(m, 18);
  return b;
}

test("this machine's own addon is recognised as the Linux build it is", () => {
  const arch = process.arch === 'arm64' ? 'aarch64' : 'x86_64';
  assert.deepEqual(describeBinary(readFileSync(ADDON).subarray(0, 64)), { elf: arch });
  assert.equal(pickAgentAddon([path.join(dir, 'missing.node'), ADDON], arch), ADDON);
});

test('headers: ELF per CPU, Mach-O, Windows, junk', () => {
  assert.deepEqual(describeBinary(elf(62)), { elf: 'x86_64' });
  assert.deepEqual(describeBinary(elf(183)), { elf: 'aarch64' });
  assert.deepEqual(describeBinary(elf(40)), { elf: 'other-elf' });
  const macho = Buffer.from([0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1]);
  assert.deepEqual(describeBinary(macho), { other: 'a macOS (Mach-O) binary' });
  assert.deepEqual(describeBinary(Buffer.from('MZ\x90\x00')), { other: 'a Windows binary' });
  assert.deepEqual(describeBinary(Buffer.from('hi')), { other: 'not a binary' });
});

test('a Mac helper without a Linux build: a clear error naming each candidate', () => {
  const mac = path.join(dir, 'mac.node');
  writeFileSync(mac, Buffer.concat([Buffer.from([0xcf, 0xfa, 0xed, 0xfe]), Buffer.alloc(60)]));
  const arm = path.join(dir, 'arm.node');
  writeFileSync(arm, elf(183));
  assert.equal(pickAgentAddon([mac, arm], 'aarch64'), arm, 'the prebuilt for the VM wins');
  assert.throws(
    () => pickAgentAddon([path.join(dir, 'none.node'), mac, arm], 'x86_64'),
    (e: Error) =>
      /no Linux x86_64 build/.test(e.message) &&
      /none\.node: missing/.test(e.message) &&
      /mac\.node: a macOS \(Mach-O\) binary/.test(e.message) &&
      /arm\.node: a Linux build for aarch64/.test(e.message),
  );
});

test("Docker's architecture names, and where prebuilt addons live", () => {
  assert.equal(vmArch('x86_64'), 'x86_64');
  assert.equal(vmArch('amd64'), 'x86_64');
  assert.equal(vmArch('aarch64'), 'aarch64');
  assert.equal(vmArch('arm64'), 'aarch64');
  assert.equal(vmArch('s390x'), undefined);
  assert.equal(prebuiltAddonPath('/app', 'aarch64'), '/app/prebuilds/linux-arm64/gangway_native.node');
});

/** Just what agentArch asks: one image's inspect, and docker info. */
function fakeDocker(images: Record<string, string>, info: string): Dockerode {
  return {
    getImage: (name: string) => ({
      inspect: () =>
        name in images
          ? Promise.resolve({ Architecture: images[name] })
          : Promise.reject(Object.assign(new Error('no such image'), { statusCode: 404 })),
    }),
    info: () => Promise.resolve({ Architecture: info }),
  } as unknown as Dockerode;
}

test("the agent's CPU: the base image's when the engine has it, else Docker's VM's", async () => {
  // The rig's arm64 base on an x86_64 engine (run under qemu): the arm64 addon.
  assert.equal(await agentArch(fakeDocker({ 'rig/arm64': 'arm64' }, 'x86_64'), 'rig/arm64'), 'aarch64');
  // A Mac's VM before the base is pulled: docker info decides (the pull then fetches that platform).
  assert.equal(await agentArch(fakeDocker({}, 'aarch64'), 'node:24-bookworm-slim'), 'aarch64');
  assert.equal(await agentArch(fakeDocker({ 'node:24': 'amd64' }, 'x86_64'), 'node:24'), 'x86_64');
  await assert.rejects(agentArch(fakeDocker({}, 's390x'), 'b'), /runs on s390x; the agent supports/);
});
