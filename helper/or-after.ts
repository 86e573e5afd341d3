// A promise's value, or a stand-in once `ms` pass without one. The promise itself is not stopped: what it
// waits for may still happen (a Docker that wakes), and the caller decides what that means.
export function orAfter<T>(work: Promise<T>, ms: number, standIn: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(standIn()), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
