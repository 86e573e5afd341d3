// macOS: /etc/resolver/<suffix> (resolver(5)) sends every name under the suffix to our server; other names
// are untouched. The file carries a marker line, so we only ever replace or remove files Gangway wrote.
import { mkdir, readFile, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../shared/atomic-file';
import type { OsResolver, RegisterResult, ResolverTarget } from './resolver';

export const RESOLVER_DIR = '/etc/resolver';
export const RESOLVER_MARKER = '# Written by Gangway (gangway down and service uninstall remove it).';

export function resolverFileContent(address: string, port: number): string {
  return `${RESOLVER_MARKER}\nnameserver ${address}\nport ${port}\n`;
}

async function isOurs(file: string): Promise<boolean | undefined> {
  try {
    return (await readFile(file, 'utf8')).startsWith(RESOLVER_MARKER);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export class DarwinResolver implements OsResolver {
  private written: string | undefined;

  constructor(private readonly dir: string = RESOLVER_DIR) {}

  async register(t: ResolverTarget): Promise<RegisterResult> {
    const file = join(this.dir, t.suffix);
    if (this.written && this.written !== file) await this.unregister();
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
    if ((await isOurs(file)) === false)
      return {
        where: null,
        hint: `${file} exists and was not written by Gangway; remove it or choose another DNS suffix`,
      };
    await writeFileAtomic(file, resolverFileContent(t.address, t.port), 0o644);
    this.written = file;
    return { where: file };
  }

  async unregister(): Promise<void> {
    const file = this.written;
    this.written = undefined;
    if (file && (await isOurs(file))) await unlink(file).catch(() => undefined);
  }

  /** Removes every resolver file carrying our marker. */
  async removeAllOurs(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return [];
    }
    const removed: string[] = [];
    for (const n of names) {
      const file = join(this.dir, n);
      if (!(await isOurs(file).catch(() => false))) continue;
      await unlink(file);
      removed.push(file);
    }
    return removed;
  }
}
