// The agent image's build context (the agent's bundle, its addon, its Dockerfile: nothing else), its inputs
// hash, the build stream's parsing, and ensureAgentImage's present/build decisions against a fake Docker.
// The real build against dockerd is in tests/integration/agent-container.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import { createLogger } from '../../common/log';
import {
  INPUTS_LABEL,
  agentContextEntries,
  agentImageTag,
  agentInputsHash,
  bundleInputsStamp,
  ensureAgentImage,
  followBuildStream,
} from '../../helper/docker/agent-image';
import { VERSION } from '../../helper/version';

const log = createLogger('test', () => undefined);

/** A bundle directory shaped like dist/bundle, small. */
function fakeRoot(): { root: string; addon: string; cleanup: () => void } {
  const root = mkdtempSync(path.join(tmpdir(), 'gangway-ctx-'));
  const put = (p: string, data: string | Buffer) => {
    mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
    writeFileSync(path.join(root, p), data);
  };
  put(
    'gangway-agent.Dockerfile',
    'ARG BASE\nFROM ${BASE}\nCOPY gangway-agent.js gangway_native.node /opt/gangway/\n',
  );
  put('gangway-agent.js', '"use strict";\n// the agent\n');
  put('gangway.js', "// the helper: not the agent's");
  put('prebuilds/linux-x64/README', 'not an addon');
  // An x86_64 ELF header: ensureAgentImage checks the addon is a Linux build for Docker's VM.
  const elf = Buffer.alloc(64);
  elf.writeUInt32BE(0x7f454c46, 0);
  elf[4] = 2;
  elf[5] = 1;
  elf.writeUInt16LE(62, 18);
  put('gangway_native.node', elf);
  return {
    root,
    addon: path.join(root, 'gangway_native.node'),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

test('the tag follows the version', () => {
  assert.equal(agentImageTag('1.2.3'), 'gangway/agent:1.2.3');
  assert.equal(agentImageTag(), `gangway/agent:${VERSION}`);
});

test('the context is exactly the Dockerfile, the agent bundle and the addon', () => {
  const f = fakeRoot();
  try {
    const entries = agentContextEntries({ bundleDir: f.root, nativeAddonPath: f.addon });
    assert.deepEqual(
      entries.map((e) => [e.path, e.mode.toString(8)]),
      [
        ['Dockerfile', '644'],
        ['gangway-agent.js', '644'],
        ['gangway_native.node', '755'],
      ],
    );
    assert.match(entries[0]!.data!.toString(), /COPY gangway-agent\.js gangway_native\.node/);
    assert.throws(
      () => agentContextEntries({ bundleDir: f.root, nativeAddonPath: path.join(f.root, 'nope.node') }),
      /native addon .* missing/,
    );
    rmSync(path.join(f.root, 'gangway-agent.js'));
    assert.throws(
      () => agentContextEntries({ bundleDir: f.root, nativeAddonPath: f.addon }),
      /gangway-agent\.js is missing: build the project first/,
    );
  } finally {
    f.cleanup();
  }
});

test("the real bundle: the agent's one file inlines its packages and none of the daemon", () => {
  const bundle = path.resolve(__dirname, '../../bundle');
  const entries = agentContextEntries({
    bundleDir: bundle,
    nativeAddonPath: path.join(bundle, 'gangway_native.node'),
  });
  const agent = entries.find((e) => e.path === 'gangway-agent.js')!.data!.toString();
  const required = [...agent.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]!);
  const builtin = new Set(builtinModules);
  const foreign = required.filter((r) => !r.startsWith('node:') && !builtin.has(r));
  assert.deepEqual(foreign, [], `the agent bundle requires ${foreign.join(', ')}`);
  assert.doesNotMatch(agent, /dockerode|class Daemon\b/);
  assert.match(entries[0]!.data!.toString(), /ENTRYPOINT \["node", "\/opt\/gangway\/gangway-agent\.js"\]/);
});

test('the inputs hash is stable and changes with the base image and with any byte', () => {
  const f = fakeRoot();
  try {
    const ctx = () => agentContextEntries({ bundleDir: f.root, nativeAddonPath: f.addon });
    const h = agentInputsHash(ctx(), 'node:24-bookworm-slim');
    assert.equal(agentInputsHash(ctx(), 'node:24-bookworm-slim'), h);
    assert.notEqual(agentInputsHash(ctx(), 'gangway-rig/agent-base:latest'), h);
    writeFileSync(f.addon, 'ELF2');
    assert.notEqual(agentInputsHash(ctx(), 'node:24-bookworm-slim'), h);
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

test('the build stream: a line of megabytes without its end fails the build instead of being held', async () => {
  const chunk = Buffer.alloc(1024 * 1024, 'x');
  let sent = 0;
  // Bounded: ends after 16 MiB whatever happens; the limit is 8 MiB.
  const s = Readable.from(
    (function* () {
      for (; sent < 16; sent++) yield chunk;
    })(),
  );
  await assert.rejects(
    followBuildStream(s, () => undefined),
    /arrived without a line's end/,
  );
  assert.ok(sent < 16, `read all ${sent} MiB before failing`);
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
      bundleDir: f.root,
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
    assert.deepEqual(b.opts.buildargs, { BASE: 'node:24-bookworm-slim' });
    assert.equal(b.opts.labels?.[INPUTS_LABEL], first.inputsHash);
    assert.deepEqual(b.listing, ['Dockerfile', 'gangway-agent.js', 'gangway_native.node']);
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
      ensureAgentImage(fake as unknown as Dockerode, { bundleDir: f.root, log }),
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
      ensureAgentImage(fake as unknown as Dockerode, { bundleDir: f.root, log }),
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
      bundleDir: f.root,
      log,
    });
    assert.equal(r.how, 'built');
    assert.deepEqual(fake.builds[0]!.listing, ['Dockerfile', 'gangway-agent.js', 'gangway_native.node']);
    assert.equal(
      agentContextEntries({ bundleDir: f.root, nativeAddonPath: prebuilt })[2]!.data!.readUInt16LE(18),
      183,
      'the arm64 prebuilt is the one packed',
    );
  } finally {
    f.cleanup();
  }
});

test('the bundle stamp: the same files give the same stamp; any input replaced (an app update) changes it', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gw-stamp-'));
  try {
    assert.equal(bundleInputsStamp(dir), undefined, 'nothing to build from');
    writeFileSync(path.join(dir, 'gangway-agent.js'), 'agent v1');
    writeFileSync(path.join(dir, 'gangway-agent.Dockerfile'), 'FROM x');
    const started = bundleInputsStamp(dir);
    assert.match(started ?? '', /^[0-9a-f]{64}$/);
    assert.equal(bundleInputsStamp(dir), started);
    // Not the helper's own files: gangway.js changing does not matter to the agent image.
    writeFileSync(path.join(dir, 'gangway.js'), 'cli v2');
    assert.equal(bundleInputsStamp(dir), started);
    writeFileSync(path.join(dir, 'gangway-agent.js'), 'agent v2');
    assert.notEqual(bundleInputsStamp(dir), started);
    writeFileSync(path.join(dir, 'gangway-agent.js'), 'agent v1');
    assert.equal(bundleInputsStamp(dir), started);
    // An addon for either VM architecture appearing is an input too.
    mkdirSync(path.join(dir, 'prebuilds', 'linux-arm64'), { recursive: true });
    writeFileSync(path.join(dir, 'prebuilds', 'linux-arm64', 'gangway_native.node'), 'arm64 addon');
    assert.notEqual(bundleInputsStamp(dir), started);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
