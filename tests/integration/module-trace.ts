// Preloaded with `node -r` by cli-modules.test.ts: at exit, writes the files of every module the process
// loaded (require's cache) to the file named by GANGWAY_MODULE_TRACE.
import { writeFileSync } from 'node:fs';

const out = process.env.GANGWAY_MODULE_TRACE;
if (out) process.on('exit', () => writeFileSync(out, JSON.stringify(Object.keys(require.cache))));
