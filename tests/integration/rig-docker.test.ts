// A real dockerd in the rig's VM namespace, with images built offline: what the agent tests stand on.
// Two rigs with a dockerd each run at the same time; one of them is then "crashed" and swept.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { waitFor } from '../../rig/exec';
import { createRig, type Rig } from '../../rig/rig';
import { startDockerd, sweepStaleDockerds, type Dockerd } from '../../rig/dockerd';
import { AGENT_BASE_IMAGE, BUSYBOX_IMAGE, buildRigImages } from '../../rig/images';

const log = (m: string) => console.log(`# ${m}`);

/** Starts a rig and its dockerd, and builds the images; logs how long each step took. */
async function rigWithDocker(subnetIndex: number, made: { rig?: Rig; dockerd?: Dockerd }): Promise<void> {
  made.rig = await createRig({ containers: 0, subnetIndex });
  let t = Date.now();
  made.dockerd = await startDockerd(made.rig);
  log(`rig ${made.rig.id}: dockerd (${made.dockerd.storageDriver}) answered in ${Date.now() - t} ms`);
  t = Date.now();
  const images = await buildRigImages(made.dockerd.host);
  log(
    `rig ${made.rig.id}: images ${images.map((i) => `${i.tag} ${i.how} ${i.ms} ms`).join(', ')}; total ${Date.now() - t} ms`,
  );
}

async function containerIp(d: Dockerd, name: string): Promise<string> {
  const { stdout } = await d.docker([
    'inspect',
    '-f',
    '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}',
    name,
  ]);
  const ip = stdout.trim().split(' ')[0];
  assert.ok(ip, `${name} has no IP`);
  return ip;
}

/** Alive and not a zombie (this machine's init does not reap orphans, so killed shims stay as zombies). */
function alive(pid: number | string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^Z/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

/** Directories named `name` in any cgroup hierarchy, a few levels deep (memory nests under our cgroup). */
function cgroupDirs(name: string, dir = '/sys/fs/cgroup', depth = 0): string[] {
  let entries: string[] = [];
  try {
    entries = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
  return entries.flatMap((e) =>
    e === name ? [path.join(dir, e)] : depth < 4 ? cgroupDirs(name, path.join(dir, e), depth + 1) : [],
  );
}

/** Whether anything of a dockerd run is still around: processes, cgroups, mounts, its directory. */
function leftovers(d: Dockerd): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p) && alive(p))) {
    let cmd = '';
    let cg = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      cg = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    } catch {
      continue;
    }
    if (/^(dockerd|containerd)/.test(path.basename(cmd.split('\0')[0] ?? '')) && cmd.includes(d.dir + '/'))
      found.push(`process ${pid}: ${cmd.replace(/\0/g, ' ')}`);
    if (cg.includes(`/${d.cgroupParent}/`)) found.push(`process ${pid} in cgroup ${d.cgroupParent}`);
  }
  for (const dir of cgroupDirs(d.cgroupParent)) found.push(`cgroup ${dir}`);
  if (readFileSync('/proc/self/mountinfo', 'utf8').includes(d.dir)) found.push(`a mount under ${d.dir}`);
  if (existsSync(d.dir)) found.push(`directory ${d.dir}`);
  return found;
}

describe('dockerd in the rig', { timeout: 300_000 }, () => {
  const a: { rig?: Rig; dockerd?: Dockerd } = {};
  const b: { rig?: Rig; dockerd?: Dockerd } = {};

  before(async () => {
    // The first build may assemble the tarballs; the second then imports them from the cache.
    await rigWithDocker(31, a);
    await rigWithDocker(32, b);
  });

  after(async () => {
    for (const m of [a, b]) {
      await m.dockerd?.stop();
      await m.rig?.teardown();
    }
  });

  test('busybox httpd on a user network answers HTTP from the VM namespace', async () => {
    const d = a.dockerd!;
    await d.docker(['network', 'create', 'rignet']);
    const { stdout: subnet } = await d.docker([
      'network',
      'inspect',
      '-f',
      '{{range .IPAM.Config}}{{.Subnet}}{{end}}',
      'rignet',
    ]);
    assert.ok(!subnet.startsWith('172.30.'), `Docker picked the rig's own range: ${subnet}`);
    for (const name of ['web1', 'web2']) {
      const script = `echo ${name} > /www/index.html && exec httpd -f -p 80 -h /www`;
      await d.docker([
        'run',
        '-d',
        '--init',
        '--name',
        name,
        '--network',
        'rignet',
        BUSYBOX_IMAGE,
        'sh',
        '-c',
        script,
      ]);
    }
    for (const name of ['web1', 'web2']) {
      const ip = await containerIp(d, name);
      const body = await waitFor(`${name} to answer`, async () => {
        // Not `wget -T`: it segfaults in this busybox; exec's timeout bounds the call instead.
        const r = await a.rig!.exec(a.rig!.vmNs, 'busybox', ['wget', '-qO-', `http://${ip}/`], {
          allowFail: true,
          timeoutMs: 3_000,
        });
        return r.code === 0 && r.stdout;
      });
      assert.equal(body.trim(), name);
    }
    // Containers reach each other by name on a user network (Docker's embedded DNS works in the rig).
    const { stdout } = await d.docker(['exec', 'web1', 'timeout', '5', 'wget', '-qO-', 'http://web2/']);
    assert.equal(stdout.trim(), 'web2');
  });

  test('agent-base runs node, ip, and iptables in both flavours', async () => {
    const d = a.dockerd!;
    const node = await d.docker(['run', '--rm', AGENT_BASE_IMAGE, 'node', '-e', 'console.log(1)']);
    assert.equal(node.stdout.trim(), '1');
    const versions = await d.docker([
      'run',
      '--rm',
      AGENT_BASE_IMAGE,
      'sh',
      '-c',
      'iptables --version; iptables-legacy --version; ip -V',
    ]);
    assert.match(versions.stdout, /iptables v[\d.]+ \(nf_tables\)/);
    assert.match(versions.stdout, /iptables v[\d.]+ \(legacy\)/);
    assert.match(versions.stdout, /iproute2/);
    // Rules that need xtables modules (dlopen'ed, so missing ones only show here), in the container's own netns.
    const rules = [
      'iptables-nft -t raw -A PREROUTING -i lo -j ACCEPT',
      'iptables-nft -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
      'iptables-nft -t nat -A POSTROUTING -s 10.0.0.0/8 -o eth0 -j MASQUERADE',
      'iptables-legacy -A FORWARD -i eth0 -o eth0 -m conntrack --ctstate NEW -j ACCEPT',
      'iptables-nft-save -t filter; iptables-legacy-save -t filter',
    ].join(' && ');
    const r = await d.docker(['run', '--rm', '--cap-add', 'NET_ADMIN', AGENT_BASE_IMAGE, 'sh', '-c', rules]);
    assert.match(r.stdout, /-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT/);
    assert.match(r.stdout, /-A FORWARD -i eth0 -o eth0 -m conntrack --ctstate NEW -j ACCEPT/);
  });

  test("Docker's chains are in nf_tables, and an agent-like container (--net host) sees them", async () => {
    const d = a.dockerd!;
    assert.equal(await d.iptablesFlavour(), 'nft');
    const r = await d.docker([
      'run',
      '--rm',
      '--net',
      'host',
      '--cap-add',
      'NET_ADMIN',
      AGENT_BASE_IMAGE,
      'iptables-nft',
      '-S',
      'DOCKER-USER',
    ]);
    assert.match(r.stdout, /-N DOCKER-USER/);
  });

  test('two dockerds in two rigs run at the same time, each with its own containers', async () => {
    const [da, db] = [a.dockerd!, b.dockerd!];
    assert.notEqual(da.socketPath, db.socketPath);
    await db.docker(['run', '-d', '--init', '--name', 'only-in-b', BUSYBOX_IMAGE, 'sleep', '600']);
    const psA = await da.docker(['ps', '--format', '{{.Names}}']);
    const psB = await db.docker(['ps', '--format', '{{.Names}}']);
    assert.ok(!psA.stdout.includes('only-in-b'));
    assert.match(psB.stdout, /only-in-b/);
    // Both have a docker0 with the same address, each in its own namespace.
    for (const m of [a, b]) {
      const r = await m.rig!.exec(m.rig!.vmNs, 'ip', ['-4', '-o', 'addr', 'show', 'docker0']);
      assert.match(r.stdout, /172\.17\.0\.1\/16/);
    }
  });

  test('restart keeps images and brings back a container with a restart policy', async () => {
    const d = a.dockerd!;
    await d.docker([
      'run',
      '-d',
      '--init',
      '--restart',
      'always',
      '--name',
      'sticky',
      BUSYBOX_IMAGE,
      'sleep',
      '600',
    ]);
    const t = Date.now();
    await d.restart();
    log(`dockerd restart took ${Date.now() - t} ms`);
    await waitFor('sticky to run again', async () => {
      const r = await d.docker(['inspect', '-f', '{{.State.Running}}', 'sticky'], { allowFail: true });
      return r.stdout.trim() === 'true';
    });
    const again = await buildRigImages(d.host);
    assert.deepEqual(
      again.map((i) => i.how),
      ['present', 'present'],
    );
  });

  test('a crashed run (owner gone, dockerd killed) is swept: container processes, cgroups, directory', async () => {
    const d = b.dockerd!;
    const { stdout } = await d.docker(['inspect', '-f', '{{.State.Pid}}', 'only-in-b']);
    const containerPid = Number(stdout.trim());
    assert.ok(containerPid > 0);
    // Simulate a test process that died: its pid in the owner file is gone, and dockerd was SIGKILLed.
    const dead = spawnSync('true').pid;
    writeFileSync(path.join(d.dir, 'owner'), `${dead}\n`);
    process.kill(d.pid!, 'SIGKILL');
    await sweepStaleDockerds();
    assert.ok(!alive(containerPid), 'the container process should be gone');
    assert.deepEqual(leftovers(d), []);
  });

  test('stop leaves nothing behind', async () => {
    const d = a.dockerd!;
    await d.stop();
    assert.deepEqual(leftovers(d), []);
  });
});
