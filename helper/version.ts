// The version the helper reports and the agent image is tagged with (from package.json).
import { packageVersion } from '../shared/package-root';

export const VERSION = packageVersion();
