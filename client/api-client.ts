// Typed calls to the control API over the unix socket: the CLI's, the Electron main process's and the tests'.
import type { z } from 'zod';
import { ApiError, parseAnswer } from '../common/api-error';
import { socketRequest } from './socket-request';

export { ApiError };

export async function callApi<T extends z.ZodType>(
  socketPath: string,
  method: string,
  path: string,
  schema: T,
  body?: unknown,
  timeoutMs = 10_000,
): Promise<z.infer<T>> {
  const answer = await socketRequest(socketPath, method, path, body, timeoutMs);
  return parseAnswer(schema, answer, path, answer.daemonVersion);
}
