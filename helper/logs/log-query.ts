// The query of GET /v1/logs, validated: ?limit=1..5000 (default 200), ?level=debug|info|warn|error (the
// lowest level returned, default debug), ?since=ISO time (only newer entries, for `gangway logs --follow`).
import { logLevelSchema } from '../../common/api';
import { ApiFailure } from '../control-server';
import type { LogQuery } from './log-reader';

export function parseLogQuery(query: URLSearchParams): LogQuery {
  const limitText = query.get('limit') ?? '200';
  const limit = /^\d{1,4}$/.test(limitText) ? Number(limitText) : NaN;
  if (!(limit >= 1 && limit <= 5000))
    throw new ApiFailure(400, 'BAD_REQUEST', 'limit: a whole number from 1 to 5000');
  const level = logLevelSchema.safeParse(query.get('level') ?? 'debug');
  if (!level.success) throw new ApiFailure(400, 'BAD_REQUEST', 'level: one of debug, info, warn, error');
  const since = query.get('since') ?? undefined;
  if (since !== undefined && Number.isNaN(Date.parse(since)))
    throw new ApiFailure(400, 'BAD_REQUEST', 'since: an ISO 8601 time');
  return { limit, level: level.data, ...(since ? { since } : {}) };
}
