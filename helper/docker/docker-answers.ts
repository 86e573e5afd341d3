// Whether Docker answers at all. A VM that is frozen, paused or asleep (a sleeping Mac, Pause in Docker
// Desktop's menu, a hung dockerd) keeps its socket open and never answers, so a request without a bound waits
// as long as the VM sleeps: `gangway down`, `gangway up` and `gangway doctor` did. A ping beside the work
// tells silence from slowness (an image build may rightly take minutes).
import type Dockerode from 'dockerode';

/** How long a ping may go unanswered before Docker counts as silent. */
export const DOCKER_ANSWER_TIMEOUT_MS = 5_000;

export class DockerSilentError extends Error {
  constructor(readonly timeoutMs: number) {
    super(
      `Docker did not answer within ${timeoutMs / 1000} s (is its VM asleep, paused or frozen? "docker info" tells)`,
    );
  }
}

/** dockerode's ping, info and version take options (abortSignal) though its types do not say so. */
export type WithAbortSignal = (opts: { abortSignal: AbortSignal }) => Promise<unknown>;

/**
 * `ask` with an abort signal that fires after `timeoutMs`: its requests are cancelled then, and what it throws
 * becomes DockerSilentError. Not AbortSignal.timeout(): its timer does not keep Node running, and this wait must
 * end with an answer.
 */
export async function withinDockerDeadline<T>(
  timeoutMs: number,
  ask: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    return await ask(abort.signal);
  } catch (err) {
    if (abort.signal.aborted) throw new DockerSilentError(timeoutMs);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves when Docker answers a ping; throws DockerSilentError after `timeoutMs` without an answer. */
export async function dockerAnswers(docker: Dockerode, timeoutMs = DOCKER_ANSWER_TIMEOUT_MS): Promise<void> {
  await withinDockerDeadline(timeoutMs, (abortSignal) =>
    (docker.ping as unknown as WithAbortSignal).call(docker, { abortSignal }),
  );
}

/**
 * The work's result, or DockerSilentError as soon as a ping sent beside it goes unanswered for `timeoutMs`.
 * The work goes on either way (what it waits for happens once Docker wakes), and its own failure after that
 * is the caller's `late` to report. A ping that fails otherwise (Docker refused it) leaves the answer to the work.
 */
export function unlessDockerSilent<T>(
  docker: Dockerode,
  work: Promise<T>,
  late: (err: unknown) => void,
  timeoutMs = DOCKER_ANSWER_TIMEOUT_MS,
): Promise<T> {
  let settled = false;
  const done = work.finally(() => (settled = true));
  const silent = dockerAnswers(docker, timeoutMs).then(
    () => done,
    (err: unknown) => {
      if (!(err instanceof DockerSilentError) || settled) return done;
      done.catch(late);
      throw err;
    },
  );
  return Promise.race([done, silent]);
}
