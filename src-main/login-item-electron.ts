// macOS and Windows: the system's own login items, through Electron.
import { app } from 'electron';
import type { LoginItem } from './login-item';

export function createElectronLoginItem(): LoginItem {
  return {
    isEnabled: () => app.getLoginItemSettings().openAtLogin,
    setEnabled: (on) => app.setLoginItemSettings({ openAtLogin: on }),
  };
}
