// No import cycles among the compiled modules (what node loads: type-only imports are gone after tsc, and a
// dynamic import() loads later, so neither counts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const DIST = resolve(__dirname, '..', '..');
const FOLDERS = ['cli', 'client', 'common', 'shared', 'helper', 'vm-agent', 'native', 'src-main'];

function jsFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? jsFiles(p) : p.endsWith('.js') ? [p] : [];
  });
}

function requires(file: string): string[] {
  const out: string[] = [];
  for (const m of readFileSync(file, 'utf8').matchAll(/\brequire\("(\.{1,2}\/[^"]+)"\)/g)) {
    const base = resolve(dirname(file), m[1]!);
    const target = [base, `${base}.js`, join(base, 'index.js')].find(
      (p) => existsSync(p) && p.endsWith('.js'),
    );
    if (target) out.push(target);
  }
  return out;
}

/** Every cycle found by a depth-first walk, as a list of files relative to dist/. */
export function findCycles(files: string[]): string[][] {
  const graph = new Map(files.map((f) => [f, requires(f)]));
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (f: string) => {
    state.set(f, 'open');
    stack.push(f);
    for (const g of graph.get(f) ?? []) {
      if (state.get(g) === 'open')
        cycles.push([...stack.slice(stack.indexOf(g)), g].map((p) => relative(DIST, p)));
      else if (!state.has(g)) visit(g);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of files) if (!state.has(f)) visit(f);
  return cycles;
}

test('the compiled modules have no import cycles', () => {
  const files = FOLDERS.flatMap((d) => jsFiles(join(DIST, d)));
  assert.ok(files.length > 50, `found ${files.length} compiled modules`);
  assert.deepEqual(findCycles(files), []);
});
