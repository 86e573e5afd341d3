// The small ustar writer behind the agent image's build context and the secret put into its container:
// header layout and checksum checked by hand, then the archive read back by GNU tar.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { tarArchive, type TarEntry } from '../../helper/docker/agent-image';

function field(h: Buffer, offset: number, length: number): string {
  return h
    .subarray(offset, offset + length)
    .toString('utf8')
    .replace(/\0.*$/s, '');
}

test('one file: a 512-byte header with a valid checksum, padded data, two zero blocks', () => {
  const tar = tarArchive([{ path: 'a/b.txt', type: 'file', mode: 0o640, data: Buffer.from('hello\n') }]);
  assert.equal(tar.length, 512 + 512 + 1024);
  const h = tar.subarray(0, 512);
  assert.equal(field(h, 0, 100), 'a/b.txt');
  assert.equal(field(h, 100, 8), '0000640');
  assert.equal(parseInt(field(h, 124, 12), 8), 6);
  assert.equal(field(h, 156, 1), '0');
  assert.equal(field(h, 257, 6), 'ustar');
  assert.equal(field(h, 263, 2), '00');
  const stored = parseInt(field(h, 148, 8).trim(), 8);
  const copy = Buffer.from(h);
  copy.fill(' ', 148, 156);
  assert.equal(
    stored,
    copy.reduce((a, b) => a + b, 0),
  );
  assert.equal(tar.subarray(512, 518).toString(), 'hello\n');
  assert.ok(tar.subarray(518).every((b) => b === 0));
});

test('equal inputs give byte-equal archives (mtime defaults to 0)', () => {
  const entries: TarEntry[] = [{ path: 'x', type: 'file', mode: 0o644, data: Buffer.from('1') }];
  assert.deepEqual(tarArchive(entries), tarArchive(entries));
});

test('bad paths are refused', () => {
  for (const p of ['', '/etc/passwd', 'a/../../b'])
    assert.throws(() => tarArchive([{ path: p, type: 'file', mode: 0o644 }]), /bad entry path/);
  assert.throws(() => tarArchive([{ path: 'l', type: 'symlink', mode: 0o777 }]), /no target/);
});

test('GNU tar reads back files, modes, directories, symlinks, long and very long names', () => {
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
    writeFileSync(file, tarArchive(entries));
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

test('pax record lengths count themselves, also where the length gains a digit', () => {
  // "<len> path=<name>\n": a 989-byte name makes a 999-byte record, a 990-byte one a 1001-byte record.
  const dir = mkdtempSync(path.join(tmpdir(), 'gangway-tar-'));
  try {
    for (const n of [101, 988, 989, 990, 991]) {
      const name = 'q'.repeat(n);
      const tar = tarArchive([{ path: name, type: 'file', mode: 0o644 }]);
      assert.equal(field(tar, 156, 1), 'x');
      const size = parseInt(field(tar, 124, 12), 8);
      const rec = tar.subarray(512, 512 + size).toString('utf8');
      assert.equal(Buffer.byteLength(rec), Number(rec.split(' ')[0]));
      assert.equal(rec, `${rec.split(' ')[0]} path=${name}\n`);
      const file = path.join(dir, `${n}.tar`);
      writeFileSync(file, tar);
      assert.equal(execFileSync('tar', ['-tf', file], { encoding: 'utf8' }), `${name}\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
