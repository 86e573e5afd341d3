// Linux: an XDG autostart entry in ~/.config/autostart (or $XDG_CONFIG_HOME/autostart).
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { LoginItem } from './login-item';
import { AUTOSTART_FILE_NAME, autostartDesktopEntry } from './autostart-desktop';

export function autostartPath(env: NodeJS.ProcessEnv = process.env): string {
  const config =
    env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/')
      ? env.XDG_CONFIG_HOME
      : join(homedir(), '.config');
  return join(config, 'autostart', AUTOSTART_FILE_NAME);
}

export function createXdgLoginItem(
  execPath: string = process.env.APPIMAGE ?? process.execPath,
  file: string = autostartPath(),
): LoginItem {
  return {
    isEnabled: () => existsSync(file),
    setEnabled(on) {
      if (!on) return rmSync(file, { force: true });
      mkdirSync(join(file, '..'), { recursive: true });
      writeFileSync(file, autostartDesktopEntry(execPath), { mode: 0o644 });
    },
  };
}
