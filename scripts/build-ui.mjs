#!/usr/bin/env node
// Bundles the window (src-renderer → dist/ui: index.html, app.js, app.css) and the Electron preload
// (src-main/preload.ts → dist/src-main/preload.js: a sandboxed preload cannot require local files), and
// copies the tray icons. Type-checking is tsc's job (npm run build runs it first); esbuild only bundles.
import { build } from 'esbuild';
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'ui');
mkdirSync(out, { recursive: true });

await build({
  entryPoints: [join(root, 'src-renderer', 'main.tsx')],
  outfile: join(out, 'app.js'),
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['chrome120'],
  jsx: 'automatic',
  minify: true,
  sourcemap: true,
  define: { 'process.env.NODE_ENV': '"production"' },
  logLevel: 'warning',
});
for (const f of ['index.html', 'app.css']) cpSync(join(root, 'src-renderer', f), join(out, f));

if (existsSync(join(root, 'src-main', 'preload.ts'))) {
  await build({
    entryPoints: [join(root, 'src-main', 'preload.ts')],
    outfile: join(root, 'dist', 'src-main', 'preload.js'),
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: ['node20'],
    external: ['electron'],
    logLevel: 'warning',
  });
}
if (existsSync(join(root, 'src-main', 'assets')))
  cpSync(join(root, 'src-main', 'assets'), join(root, 'dist', 'src-main', 'assets'), { recursive: true });
console.log('built dist/ui and the preload');
