/**
 * What tests/architecture/layering.test.ts checks with: the layer order of ARCHITECTURE.md, the import graph
 * of src/, its cycles and the imports against the order.
 *
 * Imports are taken from the TypeScript syntax tree of every src/**\/*.ts file: `import … from`, `import '…'`,
 * `export … from`, `import type`, dynamic `import('…')` and type-position `import('…').T`, with relative
 * specifiers only (packages and `node:` modules are not part of the order).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SRC = path.join(ROOT, 'src');

/** The layers, lowest first; each is a list of entries (folders or files relative to src/). */
export type LayerOrder = string[][];

/** Import graph: file (relative to src/, `/`-separated) → the files it imports. */
export type ImportGraph = Map<string, string[]>;

/** The `layers` fenced block of a Markdown text: one layer per line, lowest first, entries separated by `|`. */
export function parseLayerOrder(markdown: string): LayerOrder {
  const match = /^```layers[ \t]*\r?\n([\s\S]*?)^```/m.exec(markdown);
  if (match === null) throw new Error('ARCHITECTURE.md has no ```layers fenced block');
  const layers = match[1]
    .split(/\r?\n/)
    .map((line) => line.replace(/#.*$/, '').trim())
    .filter((line) => line !== '')
    .map((line) => line.split('|').map((entry) => entry.trim().replace(/\/$/, '')));
  const seen = new Set<string>();
  for (const entry of layers.flat()) {
    if (entry === '') throw new Error('the layers block has an empty entry');
    if (seen.has(entry)) throw new Error(`the layers block lists ${entry} twice`);
    seen.add(entry);
  }
  return layers;
}

/** Relative module specifiers of a TypeScript source text, in source order. */
export function relativeImports(source: string, fileName = 'file.ts'): string[] {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: string[] = [];
  const add = (node: ts.Node | undefined) => {
    if (node !== undefined && ts.isStringLiteralLike(node) && node.text.startsWith('.')) out.push(node.text);
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) add(node.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node.moduleReference.expression);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node.arguments[0]);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node.argument.literal);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...sourceFiles(full));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

/** The import graph of src/ (keys and targets relative to src/). Unresolvable imports are returned apart. */
export function srcImportGraph(): { graph: ImportGraph; unresolved: string[] } {
  const graph: ImportGraph = new Map();
  const unresolved: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = path.relative(SRC, file).split(path.sep).join('/');
    const targets: string[] = [];
    for (const spec of relativeImports(readFileSync(file, 'utf8'), file)) {
      const base = path.resolve(path.dirname(file), spec);
      const candidates = [base.replace(/\.js$/, '.ts'), `${base}.ts`, path.join(base, 'index.ts')];
      const hit = candidates.find((c) => {
        try {
          return statSync(c).isFile();
        } catch {
          return false;
        }
      });
      if (hit === undefined) unresolved.push(`${from}: '${spec}'`);
      else targets.push(path.relative(SRC, hit).split(path.sep).join('/'));
    }
    graph.set(from, [...new Set(targets)]);
  }
  return { graph, unresolved };
}

/** Every import cycle's files (strongly connected components with more than one file, or a self-import), each as a path `a → b → … → a`. */
export function findCycles(graph: ImportGraph): string[] {
  // Tarjan's strongly connected components, iterative over the sorted keys (deterministic output).
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let next = 0;
  const strongConnect = (start: string) => {
    const work: [string, number][] = [[start, 0]];
    index.set(start, next);
    low.set(start, next++);
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const frame = work[work.length - 1];
      const [v, i] = frame;
      const edges = graph.get(v) ?? [];
      if (i < edges.length) {
        frame[1]++;
        const w = edges[i];
        if (!index.has(w)) {
          index.set(w, next);
          low.set(w, next++);
          stack.push(w);
          onStack.add(w);
          work.push([w, 0]);
        } else if (onStack.has(w)) {
          low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
        }
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1][0];
        low.set(parent, Math.min(low.get(parent) as number, low.get(v) as number));
      }
      if (low.get(v) === index.get(v)) {
        const component: string[] = [];
        let w: string;
        do {
          w = stack.pop() as string;
          onStack.delete(w);
          component.push(w);
        } while (w !== v);
        components.push(component);
      }
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) strongConnect(v);
  const cycles: string[] = [];
  for (const component of components) {
    const members = new Set(component);
    const first = [...component].sort()[0];
    if (component.length === 1 && !(graph.get(first) ?? []).includes(first)) continue;
    cycles.push(cyclePath(graph, first, members).join(' → '));
  }
  return cycles.sort();
}

/** A shortest path from `start` back to itself inside `members` (breadth-first). */
function cyclePath(graph: ImportGraph, start: string, members: Set<string>): string[] {
  const previous = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift() as string;
    for (const w of graph.get(v) ?? []) {
      if (!members.has(w)) continue;
      if (w === start) {
        const back = [v];
        while (back[back.length - 1] !== start) back.push(previous.get(back[back.length - 1]) as string);
        return [...back.reverse(), start];
      }
      if (!previous.has(w)) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

/** The layer entry a file belongs to: the longest entry that is the file itself or a folder holding it. */
function entryOf(file: string, layers: LayerOrder): { entry: string; layer: number } | null {
  let best: { entry: string; layer: number } | null = null;
  layers.forEach((entries, layer) => {
    for (const entry of entries) {
      const covers = file === entry || file.startsWith(`${entry}/`);
      if (covers && (best === null || entry.length > best.entry.length)) best = { entry, layer };
    }
  });
  return best;
}

/**
 * Imports against the order: a file may import files of its own layer and of lower layers only. Files no entry
 * covers are reported too.
 */
export function layerViolations(graph: ImportGraph, layers: LayerOrder): string[] {
  const problems: string[] = [];
  for (const [from, targets] of [...graph].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const source = entryOf(from, layers);
    if (source === null) {
      problems.push(`${from} is in no layer of ARCHITECTURE.md`);
      continue;
    }
    for (const to of targets) {
      const target = entryOf(to, layers);
      if (target === null || target.layer <= source.layer) continue;
      problems.push(`${from} imports ${to}: ${target.entry} is above ${source.entry}`);
    }
  }
  return problems;
}
