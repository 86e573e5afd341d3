// The one way Gangway replaces a file (settings, the secret, service files), so that a crash or power loss at any moment leaves either the old or the new content,
// never a mix: write a temp file in the same directory (rename is only atomic within one file system),
// fsync it, rename it over the target, then fsync the directory so the rename itself is durable.
import { randomBytes } from 'node:crypto';
import { readdirSync, unlinkSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

const TEMP_MARK = '.tmp-';

export async function writeFileAtomic(file: string, data: string, mode = 0o600): Promise<void> {
  const tmp = `${file}${TEMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`;
  const handle = await open(tmp, 'wx', mode);
  try {
    await handle.writeFile(data, 'utf8');
    // open() applies the umask to `mode`; a unit file must end up 0644, a secret 0600, whatever it is.
    await handle.chmod(mode);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await handle.close();
  try {
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await syncDir(dirname(file));
}

async function syncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (err) {
    // Some file systems cannot fsync a directory; the rename has happened either way.
    if (!['EISDIR', 'EINVAL', 'EPERM', 'ENOTSUP'].includes((err as NodeJS.ErrnoException).code ?? ''))
      throw err;
  } finally {
    await handle?.close();
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Deletes temp files that a crashed writeFileAtomic(file) left behind. Returns the names removed. Temp files of
 *  processes that still run are theirs, and are left alone. */
export function removeStaleTemps(file: string): string[] {
  const prefix = basename(file) + TEMP_MARK;
  let names: string[] = [];
  try {
    names = readdirSync(dirname(file)).filter((n) => n.startsWith(prefix));
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const n of names) {
    const pid = Number(/^(\d+)-/.exec(n.slice(prefix.length))?.[1]);
    if (pid && pid !== process.pid && alive(pid)) continue;
    try {
      unlinkSync(join(dirname(file), n));
      removed.push(n);
    } catch {
      // another writer's file that just went away, or not ours to remove
    }
  }
  return removed;
}
