/**
 * The documented public surface: each entry point listed here carries a TSDoc block with `@param` for every
 * parameter, `@returns`, `@throws` and an `@example`, directly above its declaration. The declaration is found by
 * following the re-exports of `src/index.ts`, so the list names only public names. An `@example` that imports
 * from `'ssmis'` may only import names the package root exports.
 *
 * A class is documented by its class block and its constructor block together; a constant (a method variant or
 * the variant registry) by its own block, whose `@param` tags name the arguments of the calls it holds.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const INDEX = path.join(ROOT, 'src/index.ts');

/** The main entry points (config, data, networks, metrics, I/O, the method) and the rest of the public functions. */
const ENTRY_POINTS = [
  // Config, data, networks, metrics, I/O, inference, training.
  'train',
  'loadConfig',
  'prepareDataset',
  'synthesize',
  'createVNet',
  'computeMetrics',
  'readNifti',
  'writeNifti',
  'inferVolume',
  // The method primitives and the variants.
  'cuboidMask',
  'mixImages',
  'mixLabels',
  'pseudoLabels',
  'trcmMasks',
  'maskedCrossEntropy',
  'maskedDiceLoss',
  'mixLoss',
  'cpamTrcmLoss',
  'largestConnectedComponent',
  'methodVariants',
  'getMethodVariant',
  'pretrainStep',
  // The audit's list.
  'predict',
  'updateEma',
  'createTeacher',
  'copyWeights',
  'readNiftiHeader',
  'volumeFromArray',
  'readNrrd',
  'writeNrrd',
  'readSafetensors',
  'writeSafetensors',
  'slidingWindowInference',
  'slidingWindowInference2d',
  'summarizeCases',
  'formatSummaryTable',
  'formatReportHeader',
  'writeFileAtomic',
  'BatchLoader',
  'TwoStreamBatchSampler',
  'Rng',
  'fromPyTorchLayout',
  'toPyTorchLayout',
  'vnetParameterCount',
  'unet2dParameterCount',
  'settleHostReads',
];

const parsed = new Map<string, ts.SourceFile>();
function parse(file: string): ts.SourceFile {
  let sf = parsed.get(file);
  if (sf === undefined) {
    sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    parsed.set(file, sf);
  }
  return sf;
}

function moduleFile(from: string, specifier: string): string {
  const base = path.resolve(path.dirname(from), specifier).replace(/\.js$/, '');
  for (const candidate of [`${base}.ts`, path.join(base, 'index.ts')]) {
    try {
      readFileSync(candidate);
      return candidate;
    } catch {}
  }
  throw new Error(`${from}: cannot resolve ${specifier}`);
}

function isExported(node: ts.Node): boolean {
  return (
    ts.canHaveModifiers(node) &&
    (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword)
  );
}

type Declaration = ts.FunctionDeclaration | ts.ClassDeclaration | ts.VariableStatement;

/** The exported declaration of `name`, following `export { … } from` and `export * from` re-exports. */
function findDeclaration(file: string, name: string, seen = new Set<string>()): Declaration | undefined {
  if (seen.has(file)) return undefined;
  seen.add(file);
  const sf = parse(file);
  for (const st of sf.statements) {
    if (
      (ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st)) &&
      st.name?.text === name &&
      isExported(st)
    ) {
      return st;
    }
    if (
      ts.isVariableStatement(st) &&
      isExported(st) &&
      st.declarationList.declarations.some((d) => ts.isIdentifier(d.name) && d.name.text === name)
    ) {
      return st;
    }
  }
  for (const st of sf.statements) {
    if (!ts.isExportDeclaration(st) || st.moduleSpecifier === undefined) continue;
    const target = moduleFile(file, (st.moduleSpecifier as ts.StringLiteral).text);
    const clause = st.exportClause;
    if (clause === undefined) {
      const found = findDeclaration(target, name, seen);
      if (found !== undefined) return found;
    } else if (ts.isNamedExports(clause)) {
      const spec = clause.elements.find((e) => e.name.text === name);
      if (spec !== undefined) return findDeclaration(target, spec.propertyName?.text ?? name, seen);
    }
  }
  return undefined;
}

function docTags(node: ts.Node): { docs: ts.JSDoc[]; tags: ts.JSDocTag[] } {
  const docs = ts.getJSDocCommentsAndTags(node).filter((d): d is ts.JSDoc => ts.isJSDoc(d));
  return { docs, tags: docs.flatMap((d) => [...(d.tags ?? [])]) };
}

/** A tag's text as written, without the tag name and the ` * ` line prefixes (`{@link …}` kept). */
function tagText(tag: ts.JSDocTag): string {
  const raw = tag.getSourceFile().text.slice(tag.tagName.end, tag.end);
  return raw.replace(/^[ \t]*\*(?!\/) ?/gm, '').replace(/\*\/\s*$/, '');
}

/** Names the package root exports (values and types), from the named exports of `src/index.ts`. */
function publicNames(): Set<string> {
  const names = new Set<string>();
  for (const st of parse(INDEX).statements) {
    if (ts.isExportDeclaration(st) && st.exportClause !== undefined && ts.isNamedExports(st.exportClause)) {
      for (const e of st.exportClause.elements) names.add(e.name.text);
    }
  }
  return names;
}

/** What is wrong with the documentation of `name` (empty when nothing is). */
function problems(name: string): string[] {
  const decl = findDeclaration(INDEX, name);
  if (decl === undefined) return [`${name}: no exported declaration found from src/index.ts`];
  const out: string[] = [];
  const nodes: ts.Node[] = [decl];
  let params: readonly ts.ParameterDeclaration[] = [];
  if (ts.isFunctionDeclaration(decl)) params = decl.parameters;
  if (ts.isClassDeclaration(decl)) {
    // A private constructor is replaced by the static `create` factory, which is then documented instead.
    const ctor = decl.members.find(ts.isConstructorDeclaration);
    const isPrivate = (m: ts.ClassElement) =>
      (ts.getModifiers(m as ts.HasModifiers) ?? []).some((x) => x.kind === ts.SyntaxKind.PrivateKeyword);
    const entry =
      ctor !== undefined && isPrivate(ctor)
        ? decl.members.find(
            (m): m is ts.MethodDeclaration => ts.isMethodDeclaration(m) && m.name.getText() === 'create',
          )
        : ctor;
    if (ctor !== undefined && entry === undefined)
      out.push(`${name}: private constructor without a static create`);
    if (entry !== undefined) {
      nodes.push(entry);
      params = entry.parameters;
      if (entry.parameters.length > 0 && docTags(entry).docs.length === 0) {
        out.push(
          `${name}: the ${ts.isConstructorDeclaration(entry) ? 'constructor' : 'create factory'} has no TSDoc block`,
        );
      }
    }
  }
  const all = nodes.map(docTags);
  const docs = all.flatMap((d) => d.docs);
  const tags = all.flatMap((d) => d.tags);
  if (docs.length === 0) return [`${name}: no TSDoc block directly above the declaration`];
  if (docs.every((d) => (ts.getTextOfJSDocComment(d.comment) ?? '').trim() === '')) {
    out.push(`${name}: no description`);
  }
  const paramTags = tags.filter(ts.isJSDocParameterTag);
  for (const p of params) {
    const pname = p.name.getText();
    if (!paramTags.some((t) => t.name.getText() === pname && tagText(t).trim() !== '')) {
      out.push(`${name}: no @param for '${pname}'`);
    }
  }
  if (ts.isVariableStatement(decl) && paramTags.length === 0) out.push(`${name}: no @param`);
  for (const tag of ['returns', 'throws', 'example']) {
    const found = tags.filter(
      (t) => t.tagName.text === tag || (tag === 'returns' && t.tagName.text === 'return'),
    );
    if (found.length === 0 || found.every((t) => tagText(t).trim() === '')) out.push(`${name}: no @${tag}`);
  }
  const publicApi = publicNames();
  for (const example of tags.filter((t) => t.tagName.text === 'example')) {
    const text = tagText(example);
    if (!text.includes(name)) out.push(`${name}: the @example does not use ${name}`);
    for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*'ssmis'/g)) {
      for (const imported of m[1].split(',').map((s) => s.trim().replace(/^type\s+/, ''))) {
        if (imported !== '' && !publicApi.has(imported)) {
          out.push(`${name}: the @example imports '${imported}', which 'ssmis' does not export`);
        }
      }
    }
  }
  return out;
}

describe('TSDoc of the public entry points', () => {
  it('lists only names the package root exports, each once', () => {
    const publicApi = publicNames();
    expect(ENTRY_POINTS.filter((n) => !publicApi.has(n))).toEqual([]);
    expect(new Set(ENTRY_POINTS).size).toBe(ENTRY_POINTS.length);
  });

  it.each(ENTRY_POINTS)(
    '%s has a description, @param for each parameter, @returns, @throws and @example',
    (name) => {
      expect(problems(name)).toEqual([]);
    },
  );

  it('reports a missing tag (the check itself works)', () => {
    const sf = ts.createSourceFile(
      'x.ts',
      '/**\n * Doubles.\n * @param x A number.\n */\nexport function f(x: number, y: number): number { return x; }\n',
      ts.ScriptTarget.Latest,
      true,
    );
    const fn = sf.statements[0] as ts.FunctionDeclaration;
    const { tags } = docTags(fn);
    expect(tags.map((t) => t.tagName.text)).toEqual(['param']);
    expect(tags.filter(ts.isJSDocParameterTag).map((t) => t.name.getText())).toEqual(['x']);
  });
});
