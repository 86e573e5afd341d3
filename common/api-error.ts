// The one error type of every control-API client (the CLI, the Electron main process, the window), and the
// one place an answer (HTTP status + JSON body) becomes either typed data or that error. Browser-safe.
import type { z } from 'zod';
import { apiErrorSchema } from './api';
import type { ApiAnswer } from './app-bridge';

export class ApiError extends Error {
  constructor(
    /** The daemon's code (BAD_REQUEST, NOT_FOUND …) or the client's own: DAEMON_UNREACHABLE, TIMEOUT, BAD_RESPONSE, VERSION_SKEW. */
    readonly code: string,
    message: string,
    readonly status = 0,
    /** Per-field problems of a rejected form (settings). */
    readonly fields?: Record<string, string>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/**
 * Checks an answer against the route's response schema. A daemon of another version gets a clear "update"
 * message rather than a crash; `daemonVersion` (from the x-gangway-version header) names it when known.
 */
export function parseAnswer<T extends z.ZodType>(
  schema: T,
  answer: ApiAnswer,
  path: string,
  daemonVersion = 'unknown',
): z.infer<T> {
  const { status, body } = answer;
  // A transport hands on a body that was not JSON as a BAD_RESPONSE error, whatever the status.
  if (status >= 400 || apiErrorSchema.safeParse(body).data?.error.code === 'BAD_RESPONSE') {
    const e = apiErrorSchema.safeParse(body);
    if (!e.success) throw new ApiError('BAD_RESPONSE', `the daemon answered ${status}`, status);
    // A daemon that refuses our API version, or does not serve its /vN/ prefix: one code for both.
    if (e.data.error.code === 'VERSION_SKEW' || e.data.error.code === 'UNKNOWN_API_VERSION')
      throw new ApiError(
        'VERSION_SKEW',
        `version mismatch with the Gangway helper (daemon ${daemonVersion}): ${e.data.error.message}`,
        status,
      );
    throw new ApiError(e.data.error.code, e.data.error.message, status, e.data.error.fields);
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success)
    throw new ApiError(
      'VERSION_SKEW',
      `the daemon's answer to ${path} does not match this client's version (daemon ${daemonVersion}): update the app/CLI or the helper`,
      status,
    );
  return parsed.data;
}
