// Which folder may import which (ESLint no-restricted-imports), kept apart so a unit test can lint forbidden
// imports against exactly these rules. The folders: see ARCHITECTURE.md.
// Relative paths only ("../helper/x"), so a package such as react-dom/client is never mistaken for a folder.
const folder = (name) => ({
  regex: `^(\\.\\./)+${name}(/|$)`,
  message: `${name}/ is out of bounds here (see ARCHITECTURE.md, "Import boundaries").`,
});

/** Only the browser-safe contract files of common/ (zod schemas, routes, errors, phase words). */
const browserSafeCommon = {
  regex: '^(\\.\\./)+common/(?!(api|api-error|api-routes|app-bridge|phase|private-ranges)$)',
  message:
    'the window imports only the browser-safe files of common/ (api, api-error, api-routes, app-bridge, phase, private-ranges).',
};

const rule = (...patterns) => [
  'error',
  { patterns: patterns.map((p) => ({ ...p, allowTypeImports: p.allowTypeImports ?? false })) },
];

export const boundaries = [
  {
    // The sandboxed window: React, zustand and the contract; no Node, no Electron, no daemon.
    files: ['src-renderer/**/*.{ts,tsx}'],
    rules: {
      '@typescript-eslint/no-restricted-imports': rule(
        ...['helper', 'cli', 'client', 'shared', 'native', 'vm-agent', 'src-main'].map(folder),
        browserSafeCommon,
        {
          group: ['node:*', 'electron'],
          message: 'the window runs in a sandboxed renderer: no Node or Electron.',
        },
      ),
    },
  },
  {
    // The Electron main process talks to the daemon only through client/ and the contract in common/.
    files: ['src-main/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': rule(
        ...['helper', 'cli', 'shared', 'native', 'vm-agent', 'src-renderer'].map(folder),
      ),
    },
  },
  {
    // The agent runs in Docker's VM: it never carries daemon, CLI or app code.
    files: ['vm-agent/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': rule(
        ...['helper', 'cli', 'client', 'src-main', 'src-renderer'].map(folder),
      ),
    },
  },
  {
    // The user's CLI loads daemon code only by dynamic import (gangway daemon, gangway service); types are free.
    files: ['cli/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': rule(
        {
          ...folder('helper'),
          allowTypeImports: true,
          message: 'the CLI imports daemon code only with a dynamic import() (see cli/gangway.ts).',
        },
        ...['vm-agent', 'native', 'src-main', 'src-renderer'].map(folder),
      ),
    },
  },
  {
    files: ['client/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': rule(
        ...['helper', 'cli', 'shared', 'native', 'vm-agent', 'src-main', 'src-renderer'].map(folder),
      ),
    },
  },
  {
    // The contract stands on its own.
    files: ['common/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': rule(
        ...['helper', 'cli', 'client', 'shared', 'native', 'vm-agent', 'src-main', 'src-renderer'].map(
          folder,
        ),
      ),
    },
  },
  {
    // What the agent and the helper share needs only the contract.
    files: ['shared/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': rule(
        ...['helper', 'cli', 'client', 'vm-agent', 'src-main', 'src-renderer'].map(folder),
      ),
    },
  },
  {
    // The root daemon never imports the user's CLI, the client or the app.
    files: ['helper/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': rule(
        ...['cli', 'client', 'vm-agent', 'src-main', 'src-renderer'].map(folder),
      ),
    },
  },
];
