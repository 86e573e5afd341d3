// The daemon's route table from the declarations in common/api-routes.ts: one handler per declared route,
// required by the type, so a route cannot be declared and left unserved (or served and left undeclared).
import { ROUTES, routeKey, type RouteName } from '../common/api-routes';
import type { Handler, Routes } from './control-server';

export function apiRoutes(handlers: Record<RouteName, Handler>): Routes {
  const table: Routes = {};
  for (const name of Object.keys(ROUTES) as RouteName[]) table[routeKey(ROUTES[name])] = handlers[name];
  return table;
}
