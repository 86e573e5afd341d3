// The API's routes, declared once: unique, each served by the daemon's table, and a call can only use the
// query parameters its route declares.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { API_ROUTES, EVENTS, ROUTES, isApiRoute, routeKey, routePath } from '../../common/api-routes';
import { apiRoutes } from '../../helper/api-router';

test('every route is declared once, under /v1/, and the router serves exactly these', () => {
  const keys = API_ROUTES.map(routeKey);
  assert.equal(new Set(keys).size, keys.length);
  for (const r of API_ROUTES) assert.match(r.path, /^\/v1\/[a-z/]+$/);
  const table = apiRoutes(
    Object.fromEntries(Object.keys(ROUTES).map((k) => [k, () => k])) as unknown as Parameters<
      typeof apiRoutes
    >[0],
  );
  assert.deepEqual(Object.keys(table).sort(), [...keys].sort());
  assert.equal(
    table['PATCH /v1/settings']?.({ method: 'PATCH', path: '', query: new URLSearchParams(), body: {} }),
    'saveSettings',
  );
  assert.ok(isApiRoute('GET', '/v1/status'));
  assert.ok(!isApiRoute('POST', '/v1/status'));
  assert.ok(!isApiRoute(EVENTS.method, EVENTS.path), 'the event stream is apart from the routes');
});

test('routePath adds only declared query parameters', () => {
  assert.equal(routePath(ROUTES.status), '/v1/status');
  assert.equal(
    routePath(ROUTES.logs, { limit: 5, level: 'warn', since: undefined }),
    '/v1/logs?limit=5&level=warn',
  );
  assert.throws(() => routePath(ROUTES.status, { limit: 5 }), /takes no query parameter "limit"/);
});
