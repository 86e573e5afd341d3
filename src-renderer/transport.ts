// How the window reaches the daemon: the Electron preload bridge, or HTTP against `gangway ui`. Both have
// the same shape (GangwayBridge), so the store and the pages never know which one they use.
import type { GangwayBridge } from '../common/app-bridge';

export type Transport = GangwayBridge;

declare global {
  interface Window {
    gangway?: GangwayBridge;
  }
}
