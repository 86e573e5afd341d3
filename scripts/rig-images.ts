// `npm run rig:images -- --docker-host unix:///path/docker.sock`: builds the rig's base images
// (gangway-rig/busybox, gangway-rig/agent-base) into that engine, from this machine's files.
import { buildRigImages } from '../rig/images';

function usage(message: string): never {
  process.stderr.write(
    `${message}\nusage: npm run rig:images -- --docker-host unix:///path/to/docker.sock\n`,
  );
  process.exit(2);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const i = args.indexOf('--docker-host');
  const host = i >= 0 ? args[i + 1] : undefined;
  if (!host || args.length !== 2)
    usage(host ? `unexpected arguments: ${args.join(' ')}` : 'missing --docker-host URL');
  if (!/^(unix|tcp):\/\/./.test(host)) usage(`--docker-host must be a unix:// or tcp:// URL, got "${host}"`);
  const t0 = Date.now();
  const results = await buildRigImages(host, { progress: (m) => process.stdout.write(`${m}\n`) });
  for (const r of results) process.stdout.write(`${r.tag} ${r.how} (${r.ms} ms)\n`);
  process.stdout.write(`done in ${Date.now() - t0} ms\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`rig:images failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
