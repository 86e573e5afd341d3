// The folder boundaries (scripts/eslint-boundaries.mjs, part of eslint.config.mjs): ESLint fails on a
// forbidden import and passes the allowed ones, linted here with exactly those rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Linter } from 'eslint';
import tseslint from 'typescript-eslint';

const ROOT = resolve(__dirname, '..', '..', '..');

async function lint(file: string, code: string): Promise<string[]> {
  const { boundaries } = (await import(
    pathToFileURL(join(ROOT, 'scripts', 'eslint-boundaries.mjs')).href
  )) as {
    boundaries: Linter.Config[];
  };
  const linter = new Linter({ cwd: ROOT, configType: 'flat' });
  const config: Linter.Config[] = [
    {
      files: ['**/*.ts', '**/*.tsx'],
      languageOptions: { parser: tseslint.parser },
      plugins: {
        '@typescript-eslint': tseslint.plugin as unknown as NonNullable<Linter.Config['plugins']>[string],
      },
    },
    ...boundaries,
  ];
  return linter
    .verify(code, config, { filename: join(ROOT, file) })
    .map((m) => `${m.ruleId ?? 'fatal'}: ${m.message}`);
}

const FORBIDDEN: [string, string][] = [
  ['src-renderer/pages/X.tsx', "import { Daemon } from '../../helper/daemon';"],
  ['src-renderer/x.ts', "import { createLogger } from '../common/log';"],
  ['src-renderer/x.ts', "import { readFileSync } from 'node:fs';"],
  ['src-renderer/x.ts', "import { callApi } from '../client/api-client';"],
  ['src-main/x.ts', "import { Daemon } from '../helper/daemon';"],
  ['src-main/x.ts', "import { runCommand } from '../shared/exec';"],
  ['vm-agent/x.ts', "import { runCommand } from '../helper/exec';"],
  ['vm-agent/x.ts', "import { callApi } from '../client/api-client';"],
  ['cli/x.ts', "import { Daemon } from '../helper/daemon';"],
  ['client/x.ts', "import { defaultConfig } from '../helper/config';"],
  ['common/x.ts', "import { runCommand } from '../shared/exec';"],
  ['shared/platform/x.ts', "import { Daemon } from '../../helper/daemon';"],
  ['helper/dns/x.ts', "import { callApi } from '../../client/api-client';"],
];

const ALLOWED: [string, string][] = [
  ['src-renderer/x.ts', "import { ROUTES } from '../common/api-routes';"],
  ['src-renderer/x.ts', "import { phaseText } from '../common/phase';"],
  ['src-renderer/main.tsx', "import { createRoot } from 'react-dom/client';"],
  ['src-main/x.ts', "import { callApi } from '../client/api-client';"],
  ['vm-agent/x.ts', "import { runCommand } from '../shared/exec';"],
  ['cli/x.ts', "import type { InstallOptions } from '../helper/service/service-manager';"],
  ['cli/x.ts', "export const run = async () => (await import('../helper/daemon-main.js')).runDaemon([]);"],
  ['helper/x.ts', "import { runCommand } from '../shared/exec';"],
];

test('ESLint fails on each forbidden import, naming the boundary', async () => {
  for (const [file, code] of FORBIDDEN) {
    const messages = await lint(file, code);
    assert.equal(messages.length, 1, `${file}: ${code} -> ${messages.join('; ')}`);
    assert.match(messages[0]!, /^@typescript-eslint\/no-restricted-imports: .*(out of bounds|only|no Node)/);
  }
});

test('ESLint passes the allowed imports (types and dynamic imports of daemon code from the CLI)', async () => {
  for (const [file, code] of ALLOWED) assert.deepEqual(await lint(file, code), [], `${file}: ${code}`);
});
