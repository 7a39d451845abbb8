/**
 * The import structure of src/: no import cycle between files, and every import points down the layer order
 * written in ARCHITECTURE.md (the fenced `layers` block, read here so the document and the check cannot
 * disagree). How imports are found: see imports.ts.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  findCycles,
  type ImportGraph,
  layerViolations,
  parseLayerOrder,
  ROOT,
  relativeImports,
  srcImportGraph,
} from './imports.js';

const SRC = path.join(ROOT, 'src');

describe('layer order and cycle checks (on made-up graphs)', () => {
  const layers = parseLayerOrder(
    ['text', '```layers', 'util', 'io | backend   # siblings', 'nn/special.ts', 'config', 'nn', '```'].join(
      '\n',
    ),
  );

  it('reads the fenced layers block: one layer per line, `|` between siblings, comments dropped', () => {
    expect(layers).toEqual([['util'], ['io', 'backend'], ['nn/special.ts'], ['config'], ['nn']]);
    expect(() => parseLayerOrder('no block')).toThrow(/no ```layers/);
    expect(() => parseLayerOrder('```layers\nutil\nutil\n```')).toThrow(/twice/);
  });

  it('finds every import form with a relative specifier', () => {
    const text = [
      "import a from './a.js';",
      "import type { B } from '../b.js';",
      "import './side.js';",
      "export { c } from './c.js';",
      "export * from './d/index.js';",
      "const e = await import('./e.js');",
      "let f: import('./f.js').F;",
      "import fs from 'node:fs';",
      "import { z } from 'zod';",
      'const g = await import(name);',
    ].join('\n');
    expect(relativeImports(text)).toEqual([
      './a.js',
      '../b.js',
      './side.js',
      './c.js',
      './d/index.js',
      './e.js',
      './f.js',
    ]);
  });

  it('reports a cycle as a path and accepts a tree', () => {
    const graph: ImportGraph = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts', 'd.ts']],
      ['d.ts', []],
      ['e.ts', ['e.ts']],
    ]);
    expect(findCycles(graph)).toEqual(['a.ts → b.ts → c.ts → a.ts', 'e.ts → e.ts']);
    expect(
      findCycles(
        new Map([
          ['a.ts', ['b.ts']],
          ['b.ts', []],
        ]),
      ),
    ).toEqual([]);
  });

  it('refuses upward imports and files outside the order; entries of one layer may import each other', () => {
    const graph: ImportGraph = new Map([
      ['nn/net.ts', ['config/index.ts', 'nn/special.ts', 'util/x.ts', 'nn/other.ts']],
      ['nn/special.ts', ['util/x.ts', 'nn/net.ts']],
      ['config/index.ts', ['nn/special.ts']],
      ['util/x.ts', ['io/read.ts']],
      ['io/read.ts', ['backend/tf.ts']],
      ['stray/y.ts', []],
    ]);
    expect(layerViolations(graph, layers)).toEqual([
      'nn/special.ts imports nn/net.ts: nn is above nn/special.ts',
      'stray/y.ts is in no layer of ARCHITECTURE.md',
      'util/x.ts imports io/read.ts: io is above util',
    ]);
  });
});

describe('src/ import structure', () => {
  const { graph, unresolved } = srcImportGraph();
  const layers = parseLayerOrder(readFileSync(path.join(ROOT, 'ARCHITECTURE.md'), 'utf8'));

  it('every relative import resolves to a file of src/', () => {
    expect(graph.size).toBeGreaterThan(50);
    expect(unresolved).toEqual([]);
  });

  it('has no import cycle between files', () => {
    expect(findCycles(graph)).toEqual([]);
  });

  it('imports only downwards in the layer order of ARCHITECTURE.md', () => {
    expect(layerViolations(graph, layers)).toEqual([]);
  });

  it('loading a config loads no TF.js: nothing config/ imports, directly or not, is in backend/', () => {
    const seen = new Set<string>();
    const stack = [...graph.keys()].filter((f) => f.startsWith('config/'));
    while (stack.length > 0) {
      const file = stack.pop() as string;
      if (seen.has(file)) continue;
      seen.add(file);
      stack.push(...(graph.get(file) ?? []));
    }
    expect([...seen].filter((f) => f.startsWith('backend/'))).toEqual([]);
  });

  it('names every top-level folder of src/ in the layer order', () => {
    const entries = new Set(layers.flat());
    const top = readdirSync(SRC).filter(
      (n) => statSync(path.join(SRC, n)).isDirectory() || n.endsWith('.ts'),
    );
    expect(top.filter((n) => !entries.has(n))).toEqual([]);
  });
});
