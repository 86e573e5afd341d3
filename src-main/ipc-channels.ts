// The IPC channel names between the preload and the main process (no Electron import: the preload bundle
// and the main process both use them).
export const IPC = {
  request: 'gangway:request',
  status: 'gangway:status',
  live: 'gangway:live',
} as const;
