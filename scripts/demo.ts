// The README's demo: a simulated Docker VM (a real dockerd in a network namespace), a container running a
// web server, and Gangway making it reachable by IP from the "host" namespace. Everything is created for
// the demo and removed at the end, also on Ctrl-C or failure.
//
// --engine docker-desktop: the helper binds 127.0.0.1 and the agent dials host.docker.internal, which reaches
// it only through a relay that behaves like Docker Desktop's UDP proxy (tests/integration/docker-desktop-rig.ts).
import { createRig, type Rig } from '../rig/rig';
import { startDockerd, type Dockerd } from '../rig/dockerd';
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { parseArgs, promisify } from 'node:util';
import {
  desktopDaemonArgs,
  desktopDockerdOptions,
  startDesktopProxy,
} from '../tests/integration/docker-desktop-rig';
import { AGENT_BASE_IMAGE, BUSYBOX_IMAGE, buildRigImages } from '../rig/images';
import { ARM64_AGENT_BASE_IMAGE, buildArm64AgentBase } from '../rig/images-arm64';
import {
  CLI,
  Workdir,
  startDaemon,
  stop,
  waitConnected,
  waitForDaemon,
  type Proc,
} from '../tests/integration/harness';

const execFileP = promisify(execFile);

type Engine = 'rig' | 'docker-desktop';

/** The demo's options: --engine rig|docker-desktop and --vm-arch native|arm64 (either, both, or neither). */
function parseDemoArgs(argv: string[]): { engine: Engine; vmArch: 'native' | 'arm64' } {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: { engine: { type: 'string' }, 'vm-arch': { type: 'string' } },
  });
  const e = values.engine ?? 'rig';
  if (e !== 'rig' && e !== 'docker-desktop')
    throw new Error(`--engine takes rig or docker-desktop, got "${e}"`);
  const v = values['vm-arch'] ?? 'native';
  if (v !== 'arm64' && v !== 'native') throw new Error(`--vm-arch takes "arm64" or "native", not "${v}"`);
  return { engine: e, vmArch: v };
}
const indent = (text: string) => text.trimEnd().replace(/^/gm, '    ');

/** Runs the real CLI, as a user would. */
async function gangway(socket: string, ...args: string[]): Promise<string> {
  const r = await execFileP(process.execPath, [CLI, ...args, '--socket', socket], { timeout: 300_000 });
  return r.stdout;
}

const step = (n: number, total: number, text: string) => console.log(`\n[${n}/${total}] ${text}`);

async function curl(rig: Rig, url: string, timeoutS: number): Promise<{ ok: boolean; body: string }> {
  const r = await rig.exec(rig.hostNs, 'curl', ['-sS', '--max-time', String(timeoutS), url], {
    allowFail: true,
  });
  return { ok: r.code === 0, body: (r.code === 0 ? r.stdout : r.stderr).trim() };
}

/** `--vm-arch arm64`: rehearse Apple Silicon's Docker VM, the agent an arm64 image run under qemu. */

async function main(): Promise<void> {
  const { engine, vmArch } = parseDemoArgs(process.argv.slice(2));
  const desktop = engine === 'docker-desktop';
  const total = 6;
  let rig: Rig | undefined;
  let dockerd: Dockerd | undefined;
  const work = new Workdir();
  const procs: Proc[] = [];
  const cleanup = async () => {
    for (const p of procs) await stop(p);
    await dockerd?.stop();
    await rig?.teardown();
    work.cleanup();
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    step(
      1,
      total,
      'Creating namespaces "host" and "vm" joined by a veth (the host cannot route into the VM)',
    );
    rig = await createRig({ containers: 0 });
    console.log(`    host: ${rig.hostNs} (${rig.hostVethIp}), vm: ${rig.vmNs} (${rig.vmVethIp})`);

    step(2, total, 'Starting a real dockerd inside the VM namespace and building a small image offline');
    dockerd = await startDockerd(rig, desktop ? desktopDockerdOptions(rig) : {});
    await buildRigImages(dockerd.host, { progress: (l) => console.log(`    ${l}`) });
    if (vmArch === 'arm64')
      await buildArm64AgentBase(dockerd.host, { progress: (l) => console.log(`    ${l}`) });

    step(3, total, 'docker network create demo && docker run -d --network demo busybox httpd');
    await dockerd.docker(['network', 'create', 'demo']);
    await dockerd.docker([
      'run',
      '-d',
      '--name',
      'web',
      '--network',
      'demo',
      BUSYBOX_IMAGE,
      'sh',
      '-c',
      'mkdir -p /www && echo "hello from the container $(hostname)" > /www/index.html && exec httpd -f -p 80 -h /www',
    ]);
    const inspect = await dockerd.docker([
      'inspect',
      '-f',
      '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}',
      'web',
    ]);
    const ip = inspect.stdout.trim();
    const subnet = (
      await dockerd.docker(['network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Subnet}}{{end}}', 'demo'])
    ).stdout.trim();
    console.log(`    container "web" has ${ip} on network "demo" (${subnet})`);
    const before = await curl(rig, `http://${ip}/`, 2);
    console.log(
      `    from the host, before Gangway: curl http://${ip}/ -> ${before.ok ? before.body : `fails (${before.body})`}`,
    );

    step(
      4,
      total,
      'Starting the Gangway helper in the host namespace; it follows Docker and routes its networks',
    );
    if (desktop) {
      // Docker Desktop's proxy forgets a flow after 90 s idle: the demo keeps Docker Desktop's figure.
      await startDesktopProxy(rig, 2611, 90_000);
      console.log(
        `    Docker Desktop's path: host.docker.internal is ${rig.hostVethIp}, where a UDP relay forwards to ` +
          `127.0.0.1:2611 from a port of its own per flow`,
      );
    }
    // No registry here: the agent image is built on a base made from this machine's files.
    const baseImage = vmArch === 'arm64' ? ARM64_AGENT_BASE_IMAGE : AGENT_BASE_IMAGE;
    const daemon = desktop
      ? startDaemon(
          rig,
          work,
          [...desktopDaemonArgs(dockerd), '--agent-base-image', baseImage],
          2611,
          '127.0.0.1',
        )
      : startDaemon(rig, work, [
          '--docker-host',
          dockerd.host,
          // In the rig the VM reaches the host over the veth; on Docker Desktop it is host.docker.internal.
          '--agent-dial',
          rig.hostVethIp,
          '--agent-base-image',
          baseImage,
        ]);
    procs.push(daemon);
    const s0 = await waitForDaemon(daemon);
    console.log(
      `    ${s0.tunnel.device} ${s0.tunnel.hostAddress} <-> ${s0.tunnel.agentAddress}, udp ${s0.tunnel.listen}, docker: ${s0.docker.state}`,
    );

    step(5, total, 'gangway up: the helper builds the agent image and starts the agent container in the VM');
    const up = await gangway(daemon.socket, 'up');
    console.log(indent(up));
    await waitConnected(daemon, vmArch === 'arm64' ? 120_000 : 15_000);
    if (desktop)
      console.log(
        `    the helper sees the agent at ${(await daemon.status()).peer ?? '?'} (the relay's flow)`,
      );
    console.log(indent(await gangway(daemon.socket, 'networks')));
    const agentImage = (await dockerd.docker(['inspect', '-f', '{{.Image}}', 'gangway-agent'])).stdout.trim();
    const platform = await dockerd.docker([
      'image',
      'inspect',
      '-f',
      '{{.Os}}/{{.Architecture}}',
      agentImage,
    ]);
    console.log(`    the agent container runs ${platform.stdout.trim()} (docker inspect)`);

    step(6, total, `From the host namespace: curl http://${ip}/ and http://web.gangway.internal/`);
    const after = await curl(rig, `http://${ip}/`, 5);
    console.log(`    -> ${after.ok ? after.body : `FAILED: ${after.body}`}`);
    const s2 = await daemon.status();
    console.log(
      `    tunnel counters: to VM ${s2.counters.pump.udpTxPackets} datagrams, from VM ${s2.counters.pump.udpRxPackets}`,
    );
    if (!after.ok) throw new Error('the container was not reachable through Gangway');
    // By name: the host namespace asks Gangway's DNS on the tunnel address (/etc/netns: that namespace only).
    const netnsDir = `/etc/netns/${rig.hostNs}`;
    mkdirSync(netnsDir, { recursive: true });
    writeFileSync(`${netnsDir}/resolv.conf`, `nameserver ${s0.tunnel.hostAddress}\n`);
    const byName = await curl(rig, 'http://web.gangway.internal/', 5).finally(() =>
      rmSync(netnsDir, { recursive: true, force: true }),
    );
    console.log(
      `    curl http://web.gangway.internal/ -> ${byName.ok ? byName.body : `FAILED: ${byName.body}`}`,
    );
    if (!byName.ok) throw new Error('the container was not reachable by name through Gangway');
    await gangway(daemon.socket, 'down');
    console.log(
      `\nDemo done: the host reached ${ip} through Gangway; "gangway down" removed the agent. Cleaning up.`,
    );
  } finally {
    await cleanup();
  }
}

void main().catch((err: unknown) => {
  console.error(`demo failed: ${(err as Error).message}`);
  process.exitCode = 1;
});
