// `gangway daemon`: runs the root helper in the foreground until SIGTERM/SIGINT. The CLI loads this file
// (and with it every daemon module) only for this command.
import { createLogger } from '../common/log';
import { native } from '../native/index';
import { DAEMON_USAGE, parseDaemonArgs } from './config';
import { Daemon } from './daemon';
import { LogFile } from './logs/log-file';
import { createNetPlatform } from '../shared/platform/platform';
import { narrowPathForRoot } from './service/trusted-path';

const EXIT = { ok: 0, failure: 1 } as const;

export async function runDaemon(argv: string[]): Promise<number> {
  const cfg = parseDaemonArgs(argv);
  if (cfg === 'help') {
    console.log(DAEMON_USAGE);
    return EXIT.ok;
  }
  let file: LogFile | undefined;
  try {
    file = cfg.logFile ? new LogFile(cfg.logFile) : undefined;
  } catch (err) {
    console.error(`gangway daemon: cannot open the log file: ${(err as Error).message} (see --log-file)`);
    return EXIT.failure;
  }
  const log = createLogger('daemon', (line) => {
    if (cfg.logStderr) process.stderr.write(line);
    file?.write(line);
  });
  const dropped = narrowPathForRoot();
  if (dropped.length > 0)
    log.warn('PATH: left out directories a user other than root can change', {
      dropped,
      path: process.env.PATH,
    });
  const daemon = new Daemon(cfg, { native: native(), net: createNetPlatform(), log });
  try {
    await daemon.start();
  } catch (err) {
    log.error('daemon failed to start', { error: (err as Error).message });
    await daemon.stop();
    return EXIT.failure;
  }
  await new Promise<void>((resolve) => {
    const done = (signal: string) => {
      log.info('stopping', { signal });
      resolve();
    };
    process.once('SIGTERM', () => done('SIGTERM'));
    process.once('SIGINT', () => done('SIGINT'));
  });
  await daemon.stop();
  // Everything is closed by now and the process exits by itself. Should a library leave a socket or timer
  // behind, exit anyway rather than linger as a half-stopped daemon, and say what held it.
  setTimeout(() => {
    log.warn('still running 3 s after stopping; exiting', {
      resources: process.getActiveResourcesInfo(),
    });
    process.exit(EXIT.ok);
  }, 3_000).unref();
  file?.close();
  return EXIT.ok;
}
