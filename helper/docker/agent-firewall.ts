// Asks the running agent where Docker's iptables chains are and how many of its rules are in place
// (`gangway-agent --firewall-report`, run with docker exec: the agent is the one process inside the VM that
// can see its tables). For status and doctor; never throws, errors are values.
import { PassThrough } from 'node:stream';
import type Dockerode from 'dockerode';
import { agentFirewallSchema, type AgentFirewall } from '../../common/api';
import { AGENT_CONTAINER_NAME } from './agent-container';
import { BUNDLE_FILES } from '../bundle-dir';

// The agent's bundle where the image's Dockerfile puts it (vm-agent/Dockerfile: COPY … /opt/gangway/).
const REPORT_CMD = ['node', `/opt/gangway/${BUNDLE_FILES.agent}`, '--firewall-report'];
const TIMEOUT_MS = 10_000;

export type FirewallRead = { ok: true; report: AgentFirewall } | { ok: false; error: string };

export async function readAgentFirewall(docker: Dockerode): Promise<FirewallRead> {
  try {
    const exec = await docker.getContainer(AGENT_CONTAINER_NAME).exec({
      Cmd: REPORT_CMD,
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = await exec.start({ hijack: true, stdin: false });
    const out = new PassThrough();
    const err = new PassThrough();
    let stdout = '';
    let stderr = '';
    out.on('data', (c: Buffer) => (stdout += c.toString()));
    err.on('data', (c: Buffer) => (stderr += c.toString()));
    docker.modem.demuxStream(stream, out, err);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        stream.destroy();
        reject(new Error(`no answer within ${TIMEOUT_MS} ms`));
      }, TIMEOUT_MS);
      stream.once('end', () => (clearTimeout(t), resolve()));
      stream.once('error', (e: Error) => (clearTimeout(t), reject(e)));
    });
    const line = stdout.trim().split('\n').pop() ?? '';
    const parsed = agentFirewallSchema.safeParse(JSON.parse(line));
    if (!parsed.success)
      return { ok: false, error: `unexpected report: ${line.slice(0, 200)} ${stderr.slice(0, 200)}` };
    return { ok: true, report: parsed.data };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}
