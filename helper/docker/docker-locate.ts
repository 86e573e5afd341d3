// Whose Docker the helper should use when it runs as a service (root under launchd or systemd, no SUDO_USER):
// the person at the Mac (the owner of /dev/console, as docker-mac-net-connect does; at the login window the
// user who installed the service) or, on Linux, the user who installed the service (the control socket's
// owner). Their ~/.docker names the current context, and
// their home holds the per-user sockets (Docker Desktop's ~/.docker/run/docker.sock, Colima, OrbStack).
import { readdirSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';

export interface ServiceUserEnv {
  platform: NodeJS.Platform;
  /** This process's uid (only root looks for another user). */
  uid: number;
  /** macOS: whoever owns it is logged in at the console. */
  consoleFile: string;
  /** macOS homes, for users not in the passwd file. */
  usersDir: string;
  passwdFile: string;
  readFile: (path: string) => Buffer;
  /** The uid owning a path, or undefined when it cannot be read. */
  ownerOf: (path: string) => number | undefined;
  /** Directory entries, or [] when it cannot be read. */
  listDir: (path: string) => string[];
  /** The user the service was installed for (--socket-owner); on macOS only while nobody is at the console. */
  serviceUid?: number | undefined;
}

export function ownerOf(path: string): number | undefined {
  try {
    return statSync(path).uid;
  } catch {
    return undefined;
  }
}

export function listDir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

/** The uid of the user whose Docker a root service should follow, and why; undefined when there is none. */
export function serviceUser(e: ServiceUserEnv): { uid: number; why: string } | undefined {
  if (e.uid !== 0) return undefined;
  if (e.platform === 'darwin') {
    const uid = e.ownerOf(e.consoleFile);
    if (uid !== undefined && uid !== 0) return { uid, why: `the owner of ${e.consoleFile}` };
    // root owns /dev/console at the login window, where launchd starts the service at boot: the installing
    // user's Docker is the best guess of what will start after login (root's home has none).
    if (e.serviceUid !== undefined && e.serviceUid !== 0)
      return { uid: e.serviceUid, why: 'the user the service was installed for (nobody at the console)' };
    return undefined;
  }
  if (e.serviceUid !== undefined && e.serviceUid !== 0)
    return { uid: e.serviceUid, why: 'the user the service was installed for' };
  return undefined;
}

/** The passwd file's entries, split into fields (none when it cannot be read). */
export function passwdEntries(e: Pick<ServiceUserEnv, 'readFile' | 'passwdFile'>): string[][] {
  let passwd = '';
  try {
    passwd = e.readFile(e.passwdFile).toString('utf8');
  } catch {
    // no passwd file to read (or not allowed)
  }
  return passwd.split('\n').map((line) => line.split(':'));
}

/** A uid's home: its passwd entry, else (macOS, where users live in Directory Services) the entry of
 *  /Users that the uid owns. */
export function homeOfUid(e: ServiceUserEnv, uid: number): string | undefined {
  const entry = passwdEntries(e).find(
    (f) => f[2] === String(uid) && f[5] && isAbsolute(f[5]) && f[5] !== '/',
  );
  if (entry) return entry[5];
  if (e.platform !== 'darwin') return undefined;
  for (const name of e.listDir(e.usersDir)) {
    if (name.startsWith('.') || name === 'Shared') continue;
    const dir = join(e.usersDir, name);
    if (e.ownerOf(dir) === uid) return dir;
  }
  return undefined;
}

/** The home of the user a root service should follow, if it is one and that user can be found. */
export function serviceUserHome(e: ServiceUserEnv): string | undefined {
  const u = serviceUser(e);
  return u ? homeOfUid(e, u.uid) : undefined;
}
