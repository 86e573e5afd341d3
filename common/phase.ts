// The connection's one phase, as /v1/status publishes it, and the words every face of Gangway (the tray,
// the window, the CLI) shows for it. Browser-safe: no imports.

export const PHASES = [
  'disconnected',
  'starting',
  'waiting-for-agent',
  'connected',
  'docker-unavailable',
  'error',
] as const;
export type Phase = (typeof PHASES)[number];

/** What the tray icon shows for a phase. */
export type TrayState = 'connected' | 'connecting' | 'disconnected' | 'error';

export const PHASE_TRAY: Record<Phase, TrayState> = {
  disconnected: 'disconnected',
  starting: 'connecting',
  'waiting-for-agent': 'connecting',
  connected: 'connected',
  'docker-unavailable': 'error',
  error: 'error',
};

/** The words for a phase; an agent that failed to start says why. */
export function phaseText(s: {
  phase: Phase;
  agent: { lastError: string | null };
  docker?: { lastError?: string | undefined };
}): string {
  switch (s.phase) {
    case 'disconnected':
      return 'Disconnected';
    case 'starting':
      return 'Starting…';
    case 'waiting-for-agent':
      return 'Waiting for the agent';
    case 'connected':
      return 'Connected';
    case 'docker-unavailable':
      // A stopped Docker refuses at once; a frozen or paused VM keeps its socket open and says nothing.
      return /did not answer/.test(s.docker?.lastError ?? '')
        ? 'Docker is not answering'
        : 'Docker is not running';
    case 'error':
      return `Agent failed to start${s.agent.lastError ? `: ${s.agent.lastError}` : ''}`;
  }
}
