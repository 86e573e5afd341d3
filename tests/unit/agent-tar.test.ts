// The tar archives behind the agent image's build context and the secret put into its container (tar-stream
// writes them): entries checked first, equal inputs give equal bytes, and GNU tar reads everything back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { tarArchive, type TarEntry } from '../../helper/docker/tar';

test('equal inputs give byte-equal archives (mtime defaults to 0), owned by root', async () => {
  const entries: TarEntry[] = [{ path: 'x', type: 'file', mode: 0o644, data: Buffer.from('1') }];
  const a = await tarArchive(entries);
  assert.deepEqual(a, await tarArchive(entries));
  const dir = mkdtempSync(path.join(tmpdir(), 'gangway-tar-'));
  try {
    writeFileSync(path.join(dir, 'a.tar'), a);
    const listing = execFileSync('tar', ['-tvf', path.join(dir, 'a.tar'), '--numeric-owner'], {
      encoding: 'utf8',
    });
    assert.match(listing, /^-rw-r--r-- 0\/0\s+1 1970-01-01 00:00 x$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad paths are refused', async () => {
  for (const p of ['', '/etc/passwd', 'a/../../b'])
    await assert.rejects(tarArchive([{ path: p, type: 'file', mode: 0o644 }]), /bad entry path/);
  await assert.rejects(tarArchive([{ path: 'l', type: 'symlink', mode: 0o777 }]), /no target/);
});

test('GNU tar reads back files, modes, directories, symlinks, long and very long names', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gangway-tar-'));
  try {
    const long = `${'d'.repeat(90)}/${'e'.repeat(90)}/file.js`; // > 100: ustar prefix + name
    const veryLong = `${'f'.repeat(120)}/${'g'.repeat(130)}.txt`; // a 130-byte name: needs a pax header
    const farLink = `${'t'.repeat(150)}/target`; // a link target over 100 bytes: pax linkpath
    const entries: TarEntry[] = [
      { path: 'run/gangway', type: 'dir', mode: 0o700 },
      { path: 'run/gangway/secret', type: 'file', mode: 0o600, data: Buffer.from('abc\n') },
      { path: 'bin/tool', type: 'file', mode: 0o755, data: Buffer.alloc(513, 7) },
      { path: 'bin/link', type: 'symlink', mode: 0o777, target: 'tool' },
      { path: 'bin/far', type: 'symlink', mode: 0o777, target: farLink },
      { path: long, type: 'file', mode: 0o644, data: Buffer.from('long') },
      { path: veryLong, type: 'file', mode: 0o644, data: Buffer.from('very long') },
      { path: 'empty', type: 'file', mode: 0o644 },
    ];
    const file = path.join(dir, 'a.tar');
    writeFileSync(file, await tarArchive(entries));
    const out = path.join(dir, 'out');
    execFileSync('mkdir', [out]);
    execFileSync('tar', ['-xpf', file, '-C', out]);
    const listing = execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).trim().split('\n');
    assert.deepEqual(
      listing,
      entries.map((e) => (e.type === 'dir' ? `${e.path}/` : e.path)),
    );
    const mode = (p: string) => lstatSync(path.join(out, p)).mode & 0o7777;
    assert.equal(mode('run/gangway'), 0o700);
    assert.equal(mode('run/gangway/secret'), 0o600);
    assert.equal(readFileSync(path.join(out, 'run/gangway/secret'), 'utf8'), 'abc\n');
    assert.equal(mode('bin/tool'), 0o755);
    assert.deepEqual(readFileSync(path.join(out, 'bin/tool')), Buffer.alloc(513, 7));
    assert.equal(readlinkSync(path.join(out, 'bin/link')), 'tool');
    assert.equal(readlinkSync(path.join(out, 'bin/far')), farLink);
    assert.equal(readFileSync(path.join(out, long), 'utf8'), 'long');
    assert.equal(readFileSync(path.join(out, veryLong), 'utf8'), 'very long');
    assert.equal(readFileSync(path.join(out, 'empty')).length, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
