// "Open at Login": one interface, one file per platform; the platform switch lives only here.
import { createElectronLoginItem } from './login-item-electron';
import { createXdgLoginItem } from './login-item-linux';

export interface LoginItem {
  isEnabled(): boolean;
  setEnabled(on: boolean): void;
}

export function createLoginItem(platform: NodeJS.Platform = process.platform): LoginItem {
  return platform === 'linux' ? createXdgLoginItem() : createElectronLoginItem();
}
