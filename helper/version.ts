// The version the helper reports and the agent image is tagged with: from package.json, or written into the
// bundle by esbuild (an installed copy of the helper has no package.json beside it).
import { packageVersion } from '../shared/package-root';

declare const GANGWAY_VERSION: string | undefined;

export const VERSION = typeof GANGWAY_VERSION === 'string' ? GANGWAY_VERSION : packageVersion();
