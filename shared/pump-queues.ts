// How many queues the native pump runs (native/index.ts PumpOptions.queues): the daemon and the agent each
// choose for their own machine; the wire format is the same whatever either side runs.
import { availableParallelism } from 'node:os';

/** Most queues chosen by default: each queue is two threads, and a VM or a laptop rarely gives more cores. */
export const DEFAULT_QUEUES_CAP = 4;
/** Most queues allowed at all (native/src/pump.h PUMP_QUEUES_MAX). */
export const QUEUES_MAX = 8;

/** One queue per CPU up to DEFAULT_QUEUES_CAP; one on macOS, whose utun has a single queue. */
export function defaultQueues(
  platform: NodeJS.Platform = process.platform,
  cpus: number = availableParallelism(),
): number {
  if (platform !== 'linux') return 1;
  return Math.max(1, Math.min(DEFAULT_QUEUES_CAP, Math.floor(cpus)));
}

/**
 * `--queues N`: a whole number from 1 to QUEUES_MAX, or an Error that says so. Off Linux only 1: macOS utun
 * has one queue, so the pump refuses more when it starts; saying so here names the flag. An error, not a
 * clamp with a warning: the flag asks for something this machine cannot do, and a warning in a service's log
 * goes unseen, while the pump would have failed on it anyway.
 */
export function parseQueues(text: string, platform: NodeJS.Platform = process.platform): number | Error {
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > QUEUES_MAX)
    return new Error(
      `--queues takes a whole number from 1 to ${QUEUES_MAX} (1: one pump thread pair), got "${text}"`,
    );
  if (platform !== 'linux' && Number(text) > 1)
    return new Error(
      `--queues ${Number(text)}: the pump has one queue on ${platform} (macOS utun has one); use --queues 1 or leave it out`,
    );
  return Number(text);
}

/**
 * Warns when the pump runs fewer queues than asked: the kernel refused the flow-steering program (qemu-user
 * does; the pump then keeps one queue rather than reorder flows). Returns the number running.
 */
export function runningQueues(
  pump: { queueStats(): unknown[] },
  asked: number,
  log: { warn(msg: string, fields: Record<string, unknown>): void },
): number {
  const running = pump.queueStats().length;
  if (running < asked)
    log.warn('one pump queue: the kernel refused the flow-steering program (SO_ATTACH_REUSEPORT_CBPF)', {
      asked,
      running,
    });
  return running;
}
