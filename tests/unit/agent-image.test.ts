// The agent image's build context (what goes in, found by following the compiled requires), its inputs
// hash, the build stream's parsing, and ensureAgentImage's present/build decisions against a fake Docker.
// The real build against dockerd is in tests/integration/agent-container.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import { createLogger } from '../../common/log';
import {
  INPUTS_LABEL,
  agentContextEntries,
  agentImageTag,
  agentInputsHash,
  agentRuntimeClosure,
  ensureAgentImage,
  followBuildStream,
} from '../../helper/docker/agent-image';
import { VERSION } from '../../helper/version';

const log = createLogger('test', () => undefined);

/** A package root shaped like the real one, small. */
function fakeRoot(): { root: string; addon: string; cleanup: () => void } {
  const root = mkdtempSync(path.join(tmpdir(), 'gangway-ctx-'));
  const put = (p: string, text: string) => {
    mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
    writeFileSync(path.join(root, p), text, 'latin1');
  };
  put('vm-agent/Dockerfile', 'ARG BASE\nFROM ${BASE}\nCOPY . /opt/gangway/\n');
  put(
    'package.json',
    JSON.stringify({ name: 'gangway', version: '9.9.9', dependencies: { zod: '^4.1.0', dockerode: '^4' } }),
  );
  put(
    'dist/vm-agent/main.js',
    [
      '"use strict";',
      'const fs = require("node:fs");',
      'const os = require("os");',
      'const a = require("../common/a");',
      'const z = require("zod");',
      'const t = require("./tun");',
    ].join('\n'),
  );
  put('dist/vm-agent/tun.js', 'require("../helper/exec");');
  put('dist/common/a.js', 'require("./b.js");');
  put('dist/common/b.js', '// leaf');
  put('dist/helper/exec.js', 'require("node:child_process");');
  put('dist/helper/daemon.js', 'require("dockerode");'); // not the agent's: must stay out
  put('dist/tests/unit/x.test.js', '');
  put('dist/vm-agent/main.js.map', '{}');
  put('node_modules/zod/package.json', JSON.stringify({ name: 'zod', dependencies: { tiny: '1' } }));
  put('node_modules/zod/index.cjs', 'module.exports = require("tiny");');
  put('node_modules/zod/index.d.cts', 'export {};');
  put('node_modules/zod/src/index.ts', 'export {};');
  put('node_modules/zod/index.cjs.map', '{}');
  put('node_modules/zod/v4/core.cjs', '');
  put('node_modules/tiny/package.json', JSON.stringify({ name: 'tiny' }));
  put('node_modules/tiny/index.js', '');
  put('node_modules/dockerode/package.json', '{}');
  // An x86_64 ELF header: ensureAgentImage checks the addon is a Linux build for Docker's VM.
  const elf = Buffer.alloc(64);
  elf.writeUInt32BE(0x7f454c46, 0);
  elf[4] = 2;
  elf[5] = 1;
  elf.writeUInt16LE(62, 18);
  put('addon/gangway_native.node', elf.toString('latin1'));
  return {
    root,
    addon: path.join(root, 'addon/gangway_native.node'),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

test('the tag follows the version', () => {
  assert.equal(agentImageTag('1.2.3'), 'gangway/agent:1.2.3');
  assert.equal(agentImageTag(), `gangway/agent:${VERSION}`);
});

test('the runtime closure follows relative requires and collects packages, skipping builtins', () => {
  const f = fakeRoot();
  try {
    assert.deepEqual(agentRuntimeClosure(f.root), {
      files: [
        'dist/common/a.js',
        'dist/common/b.js',
        'dist/helper/exec.js',
        'dist/vm-agent/main.js',
        'dist/vm-agent/tun.js',
      ],
      packages: ['zod'],
    });
    writeFileSync(path.join(f.root, 'dist/common/b.js'), 'require("./gone");');
    assert.throws(() => agentRuntimeClosure(f.root), /dist\/common\/b\.js requires "\.\/gone"/);
  } finally {
    f.cleanup();
  }
});

test("the real agent's closure: its own files, no tests or bench, zod the only package", () => {
  const root = path.resolve(__dirname, '../../..');
  const c = agentRuntimeClosure(root);
  assert.deepEqual(c.packages, ['zod']);
  assert.ok(c.files.includes('dist/vm-agent/main.js'));
  assert.ok(c.files.includes('dist/native/index.js'));
  assert.ok(
    c.files.every((f) => /^dist\/(vm-agent|common|shared|native)\//.test(f)),
    c.files.join(' '),
  );
  assert.ok(!c.files.some((f) => /daemon\.js|\/cli\.js|\/docker\//.test(f)), c.files.join(' '));
});

test('the context: Dockerfile at the top, a minimal package.json, packages without typings, the addon', () => {
  const f = fakeRoot();
  try {
    const entries = agentContextEntries({ contextRoot: f.root, nativeAddonPath: f.addon });
    const paths = entries.map((e) => e.path);
    assert.deepEqual(paths.slice(0, 3), ['Dockerfile', '.dockerignore', 'package.json']);
    for (const p of [
      'dist/vm-agent/main.js',
      'dist/common/b.js',
      'node_modules/zod/index.cjs',
      'node_modules/zod/v4/core.cjs',
      'node_modules/zod/package.json',
      'node_modules/tiny/index.js',
      'native/build/Release/gangway_native.node',
    ])
      assert.ok(paths.includes(p), p);
    for (const p of paths) assert.doesNotMatch(p, /\.d\.cts$|\.ts$|\.map$|daemon|tests\/|dockerode/);
    const pkg = JSON.parse(entries.find((e) => e.path === 'package.json')!.data!.toString()) as {
      dependencies: Record<string, string>;
      version: string;
    };
    assert.deepEqual(pkg.dependencies, { zod: '^4.1.0' });
    assert.equal(pkg.version, '9.9.9');
    assert.throws(
      () => agentContextEntries({ contextRoot: f.root, nativeAddonPath: path.join(f.root, 'nope.node') }),
      /native addon .* missing/,
    );
    writeFileSync(path.join(f.root, 'package.json'), JSON.stringify({ name: 'gangway', dependencies: {} }));
    assert.throws(
      () => agentContextEntries({ contextRoot: f.root, nativeAddonPath: f.addon }),
      /requires "zod", which is not a dependency/,
    );
  } finally {
    f.cleanup();
  }
});

test('the inputs hash is stable and changes with the base image and with any byte', () => {
  const f = fakeRoot();
  try {
    const ctx = () => agentContextEntries({ contextRoot: f.root, nativeAddonPath: f.addon });
    const h = agentInputsHash(ctx(), 'node:20-bookworm-slim');
    assert.equal(agentInputsHash(ctx(), 'node:20-bookworm-slim'), h);
    assert.notEqual(agentInputsHash(ctx(), 'gangway-rig/agent-base:latest'), h);
    writeFileSync(f.addon, 'ELF2');
    assert.notEqual(agentInputsHash(ctx(), 'node:20-bookworm-slim'), h);
  } finally {
    f.cleanup();
  }
});

test('the build stream: lines split across chunks, progress reported, aux ID kept', async () => {
  const s = new PassThrough();
  const lines: string[] = [];
  const done = followBuildStream(s, (l) => lines.push(l));
  s.write('{"stream":"Step 1/4 : ARG BASE\\n"}\n{"str');
  s.write('eam":" ---> abc\\n"}\n{"status":"Pulling","progress":"[==>  ]"}\n');
  s.end('{"aux":{"ID":"sha256:123"}}\n{"stream":"Successfully built 123\\n"}');
  assert.deepEqual(await done, { imageId: 'sha256:123' });
  assert.deepEqual(lines, ['Step 1/4 : ARG BASE', ' ---> abc', 'Pulling [==>  ]', 'Successfully built 123']);
});

test("the build stream: Docker's errorDetail becomes the exception's message", async () => {
  const s = Readable.from([
    '{"stream":"Step 2/4 : RUN false\\n"}\n',
    '{"errorDetail":{"code":1,"message":"The command \'/bin/sh -c false\' returned a non-zero code: 1"},' +
      '"error":"The command \'/bin/sh -c false\' returned a non-zero code: 1"}\n',
  ]);
  await assert.rejects(
    followBuildStream(s, () => undefined),
    /The command '\/bin\/sh -c false' returned a non-zero code: 1/,
  );
});

/** Just what ensureAgentImage calls. */
class FakeDocker {
  images = new Map<string, { Id: string; Config: { Labels: Record<string, string> } }>();
  builds: { opts: Dockerode.ImageBuildOptions; listing: string[] }[] = [];
  buildOutput: (labels: Record<string, string>) => string[] = () => ['{"stream":"Step 1/1 : FROM x\\n"}\n'];
  removed: string[] = [];

  info() {
    return Promise.resolve({ Architecture: 'x86_64' });
  }

  getImage(name: string) {
    return {
      inspect: () => {
        const img = this.images.get(name);
        return img
          ? Promise.resolve(img)
          : Promise.reject(Object.assign(new Error('no such image'), { statusCode: 404 }));
      },
      remove: () => {
        this.removed.push(name);
        return Promise.resolve();
      },
    };
  }

  async buildImage(context: NodeJS.ReadableStream, opts: Dockerode.ImageBuildOptions) {
    const chunks: Buffer[] = [];
    for await (const c of context as AsyncIterable<Buffer>) chunks.push(c);
    const dir = mkdtempSync(path.join(tmpdir(), 'gangway-fakebuild-'));
    try {
      writeFileSync(path.join(dir, 'ctx.tar'), Buffer.concat(chunks));
      const listing = execFileSync('tar', ['-tf', path.join(dir, 'ctx.tar')], { encoding: 'utf8' })
        .trim()
        .split('\n');
      this.builds.push({ opts, listing });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const out = this.buildOutput(opts.labels ?? {});
    if (!out.some((l) => l.includes('error')))
      this.images.set(opts.t!, { Id: `sha256:${this.builds.length}`, Config: { Labels: opts.labels ?? {} } });
    return Readable.from(out);
  }

  listImages() {
    return Promise.resolve([{ Id: 'sha256:old', RepoTags: ['gangway/agent:0.0.1'] }]);
  }
}

test('ensureAgentImage: builds when absent, is present after, rebuilds when the inputs change', async () => {
  const f = fakeRoot();
  try {
    const fake = new FakeDocker();
    const docker = fake as unknown as Dockerode;
    const progress: string[] = [];
    const opts = {
      contextRoot: f.root,
      nativeAddonPath: f.addon,
      log,
      onProgress: (l: string) => progress.push(l),
    };
    const first = await ensureAgentImage(docker, opts);
    assert.equal(first.how, 'built');
    assert.equal(first.tag, `gangway/agent:${VERSION}`);
    assert.equal(fake.builds.length, 1);
    const b = fake.builds[0]!;
    assert.equal(b.opts.t, first.tag);
    assert.equal(b.opts.dockerfile, 'Dockerfile');
    assert.deepEqual(b.opts.buildargs, { BASE: 'node:20-bookworm-slim' });
    assert.equal(b.opts.labels?.[INPUTS_LABEL], first.inputsHash);
    assert.ok(b.listing.includes('Dockerfile') && b.listing.includes('dist/vm-agent/main.js'));
    assert.deepEqual(progress, ['Step 1/1 : FROM x']);
    assert.deepEqual(fake.removed, ['sha256:old'], 'an older version of the image is pruned');

    assert.equal((await ensureAgentImage(docker, opts)).how, 'present');
    assert.equal(fake.builds.length, 1);

    const rig = await ensureAgentImage(docker, { ...opts, baseImage: 'gangway-rig/agent-base:latest' });
    assert.equal(rig.how, 'built');
    assert.deepEqual(fake.builds[1]!.opts.buildargs, { BASE: 'gangway-rig/agent-base:latest' });
  } finally {
    f.cleanup();
  }
});

test('ensureAgentImage: a failed build throws with the message from the stream', async () => {
  const f = fakeRoot();
  try {
    const fake = new FakeDocker();
    fake.buildOutput = () => [
      '{"stream":"Step 1/4 : FROM nowhere/base\\n"}\n',
      '{"errorDetail":{"message":"pull access denied for nowhere/base"},"error":"pull access denied"}\n',
    ];
    await assert.rejects(
      ensureAgentImage(fake as unknown as Dockerode, { contextRoot: f.root, nativeAddonPath: f.addon, log }),
      /cannot build the agent image gangway\/agent:.*: pull access denied for nowhere\/base/,
    );
  } finally {
    f.cleanup();
  }
});

test("ensureAgentImage: an addon that is not for the VM's CPU stops the build with the reason", async () => {
  const f = fakeRoot();
  try {
    const fake = new FakeDocker();
    fake.info = () => Promise.resolve({ Architecture: 'aarch64' });
    await assert.rejects(
      ensureAgentImage(fake as unknown as Dockerode, { contextRoot: f.root, nativeAddonPath: f.addon, log }),
      /no Linux aarch64 build of the native addon .*gangway_native\.node: a Linux build for x86_64/,
    );
    assert.equal(fake.builds.length, 0, 'nothing was built');
    // A packaged app's prebuilt for the VM's CPU is used instead.
    const prebuilt = path.join(f.root, 'prebuilds', 'linux-arm64', 'gangway_native.node');
    mkdirSync(path.dirname(prebuilt), { recursive: true });
    const arm = Buffer.alloc(64);
    arm.writeUInt32BE(0x7f454c46, 0);
    arm[4] = 2;
    arm[5] = 1;
    arm.writeUInt16LE(183, 18);
    writeFileSync(prebuilt, arm);
    const r = await ensureAgentImage(fake as unknown as Dockerode, {
      contextRoot: f.root,
      nativeAddonPath: f.addon,
      log,
    });
    assert.equal(r.how, 'built');
    assert.ok(fake.builds[0]!.listing.includes('native/build/Release/gangway_native.node'));
  } finally {
    f.cleanup();
  }
});
