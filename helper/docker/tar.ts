// In-memory tar archives (the agent image's build context, the secret put into the agent's container),
// written by tar-stream, the library dockerode itself packs with. Entries are checked first: a path that
// could leave the archive's root is refused, not cleaned.
import { pack as tarPack } from 'tar-stream';

export interface TarEntry {
  /** Relative path inside the archive, '/'-separated, no leading '/'. */
  path: string;
  type: 'file' | 'dir' | 'symlink';
  /** Permission bits (e.g. 0o644). */
  mode: number;
  /** File contents (type 'file'). */
  data?: Buffer;
  /** Link target (type 'symlink'). */
  target?: string;
  /** Seconds since the epoch; default 0, so equal inputs give byte-equal archives. */
  mtime?: number;
  uid?: number;
  gid?: number;
}

function check(e: TarEntry): void {
  if (!e.path || e.path.startsWith('/') || e.path.split('/').includes('..'))
    throw new Error(`tar: bad entry path "${e.path}"`);
  if (e.type === 'symlink' && !e.target) throw new Error(`tar: symlink "${e.path}" has no target`);
}

/** Builds a tar archive in memory (ustar, with pax headers where names or link targets are long). */
export async function tarArchive(entries: readonly TarEntry[]): Promise<Buffer> {
  entries.forEach(check);
  const pack = tarPack();
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    pack.on('data', (c: Buffer) => chunks.push(c));
    pack.on('end', () => resolve(Buffer.concat(chunks)));
    pack.on('error', reject);
  });
  for (const e of entries) {
    const header = {
      name: e.path,
      mode: e.mode & 0o7777,
      mtime: new Date((e.mtime ?? 0) * 1000),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      uname: 'root',
      gname: 'root',
    };
    if (e.type === 'file') pack.entry({ ...header, type: 'file' }, e.data ?? Buffer.alloc(0));
    else if (e.type === 'dir')
      pack.entry({ ...header, name: e.path.endsWith('/') ? e.path : `${e.path}/`, type: 'directory' });
    else pack.entry({ ...header, type: 'symlink', linkname: e.target });
  }
  pack.finalize();
  return done;
}
