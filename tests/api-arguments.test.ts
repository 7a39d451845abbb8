/**
 * Every function, constructor and public method of the package root refuses a missing or wrong argument with an
 * InputError that names the function and the argument, never a raw TypeError or a silently wrong result. The list
 * is built from the module's exports (parameter names from the TypeScript sources), so a new export without
 * checks fails here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import * as api from '../src/index.js';

/** Exports that are not called with checked arguments, and why. */
const EXEMPT: Record<string, string> = {
  tf: 'the TF.js namespace, re-exported unchanged',
  SsmisError: 'an error class: any message',
  InputError: 'an error class: any message',
  ConfigError: 'an error class built from problems the config layer made',
};

/** Instances whose methods are probed; other classes' methods run on an uninitialised instance. */
const INSTANCES: Record<string, () => unknown> = {
  Rng: () => new api.Rng(1),
  SgdOptimizer: () => new api.SgdOptimizer({ lr: 0.1 }),
  AdamOptimizer: () => new api.AdamOptimizer({ lr: 0.1 }),
  TwoStreamBatchSampler: () =>
    new api.TwoStreamBatchSampler({
      labeled: [0, 1],
      unlabeled: [2, 3],
      labeledBatch: 1,
      unlabeledBatch: 1,
      rng: new api.Rng(1),
    }),
};

interface Param {
  name: string;
  optional: boolean;
}

interface Callable {
  /** How the message names it: `computeMetrics`, `Rng`, `Rng.randint`, `BatchLoader.create`. */
  label: string;
  params: Param[];
  call: (...args: unknown[]) => unknown;
}

const root = path.resolve(import.meta.dirname, '../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

function paramsOf(node: ts.SignatureDeclarationBase): Param[] {
  return node.parameters.map((p) => ({
    name: p.name.getText(),
    optional: p.questionToken !== undefined || p.initializer !== undefined || p.dotDotDotToken !== undefined,
  }));
}

function isHidden(member: ts.ClassElement): boolean {
  const flags = ts.getCombinedModifierFlags(member as ts.Declaration);
  return (
    (flags & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) !== 0 ||
    (member.name !== undefined && ts.isPrivateIdentifier(member.name))
  );
}

/** Exported functions and classes of every source file, by name, with their public signatures. */
function declarations() {
  const functions = new Map<string, Param[]>();
  const classes = new Map<
    string,
    {
      ctor: Param[] | null;
      methods: { name: string; isStatic: boolean; params: Param[] }[];
      base: string | undefined;
    }
  >();
  for (const file of sourceFiles(root)) {
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    for (const statement of sf.statements) {
      if (ts.isFunctionDeclaration(statement) && statement.name && statement.body) {
        functions.set(statement.name.text, paramsOf(statement));
      } else if (ts.isClassDeclaration(statement) && statement.name) {
        let ctor: Param[] | null = [];
        const methods: { name: string; isStatic: boolean; params: Param[] }[] = [];
        for (const member of statement.members) {
          if (ts.isConstructorDeclaration(member)) ctor = isHidden(member) ? null : paramsOf(member);
          else if (ts.isMethodDeclaration(member) && !isHidden(member) && member.body) {
            const isStatic = (ts.getCombinedModifierFlags(member) & ts.ModifierFlags.Static) !== 0;
            methods.push({ name: member.name.getText(), isStatic, params: paramsOf(member) });
          }
        }
        const base = statement.heritageClauses
          ?.find((h) => h.token === ts.SyntaxKind.ExtendsKeyword)
          ?.types[0]?.expression.getText();
        classes.set(statement.name.text, { ctor, methods, base });
      }
    }
  }
  // Public methods a class inherits (e.g. the optimizers' step from their shared base class).
  for (const cls of classes.values()) {
    for (let base = classes.get(cls.base ?? ''); base; base = classes.get(base.base ?? '')) {
      for (const m of base.methods) if (!cls.methods.some((own) => own.name === m.name)) cls.methods.push(m);
    }
  }
  return { functions, classes };
}

/** Parameter names of a function value (object-literal methods such as a method variant's `prepare`). */
function runtimeParams(fn: (...args: never[]) => unknown): Param[] {
  const text = Function.prototype.toString.call(fn);
  const list = /^[^(]*\(([^)]*)\)/.exec(text)?.[1] ?? '';
  return list
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => ({ name: (/^[\w$]+/.exec(p) as RegExpExecArray)[0], optional: p.includes('=') }));
}

type AnyFunction = (...args: unknown[]) => unknown;
type AnyClass = (new (...args: unknown[]) => unknown) & Record<string, unknown>;

function callables(): { list: Callable[]; unknown: string[] } {
  const { functions, classes } = declarations();
  const list: Callable[] = [];
  const unknown: string[] = [];
  const seen = new Set<unknown>();
  for (const [name, value] of Object.entries(api)) {
    if (Object.hasOwn(EXEMPT, name)) continue;
    if (typeof value === 'function') {
      const cls = classes.get(name);
      if (cls) {
        const C = value as AnyClass;
        if (cls.ctor) list.push({ label: name, params: cls.ctor, call: (...a) => new C(...a) });
        for (const m of cls.methods) {
          const label = `${name}.${m.name}`;
          if (m.isStatic) {
            list.push({ label, params: m.params, call: (...a) => (C[m.name] as AnyFunction)(...a) });
          } else {
            // A working instance where one is cheap to make, else an uninitialised one (the checks run before the
            // method touches any state).
            const receiver = (INSTANCES[name]?.() ?? Object.create(C.prototype)) as Record<
              string,
              AnyFunction
            >;
            list.push({ label, params: m.params, call: (...a) => receiver[m.name]?.(...a) });
          }
        }
        continue;
      }
      const params = functions.get(name);
      if (params === undefined) unknown.push(name);
      else list.push({ label: name, params, call: value as AnyFunction });
    } else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      // Objects with methods (the method variants, also inside the `methodVariants` record).
      const objects: [string, unknown][] = [
        [name, value],
        ...Object.entries(value).map(([k, v]): [string, unknown] => [`${name}.${k}`, v]),
      ];
      for (const [prefix, object] of objects) {
        if (typeof object !== 'object' || object === null || Array.isArray(object) || seen.has(object))
          continue;
        seen.add(object);
        for (const [key, member] of Object.entries(object)) {
          if (typeof member !== 'function') continue;
          const fn = member as AnyFunction;
          list.push({
            label: `${prefix}.${key}`,
            params: runtimeParams(fn),
            call: (...a) => fn.apply(object, a),
          });
        }
      }
    }
  }
  return { list, unknown };
}

/** The InputError a call throws or rejects with (or what it did instead, for the failure message). */
async function outcome(call: () => unknown): Promise<{ error?: unknown; returned?: unknown }> {
  try {
    return { returned: await call() };
  } catch (error) {
    return { error };
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Asserts an InputError `<label>: argument '<one of the parameters>...'`. */
function expectArgumentError(
  result: { error?: unknown; returned?: unknown },
  c: Callable,
  probe: string,
): void {
  const where = `${c.label}(${probe})`;
  expect(result.error, `${where} returned instead of throwing`).toBeDefined();
  const error = result.error as Error;
  expect(error, `${where}: ${error?.name}: ${error?.message}`).toBeInstanceOf(api.InputError);
  const names = c.params.map((p) => escapeRegExp(p.name)).join('|');
  const named = new RegExp(`argument '(${names})(['.\\[])`);
  expect(error.message, where).toMatch(named);
  // Object-literal methods (variants) are named by their variant; everything else by its export label.
  if (!c.label.includes('Variant.') && !c.label.includes('Step.') && !c.label.startsWith('methodVariants')) {
    expect(error.message.startsWith(`${c.label}: `), `${where}: ${error.message}`).toBe(true);
  }
  expect(error.message, where).not.toContain('\n');
}

const { list, unknown } = callables();

describe('library API argument checks', () => {
  it('finds every exported function in the sources (else the test would miss it)', () => {
    expect(unknown).toEqual([]);
    expect(list.length).toBeGreaterThan(100);
  });

  const withParams = list.filter((c) => c.params.length > 0);

  it.each(withParams.map((c) => [c.label, c] as const))(
    '%s refuses null and a wrong type',
    async (_label, c) => {
      expectArgumentError(await outcome(() => c.call(null)), c, 'null');
      expectArgumentError(await outcome(() => c.call(Symbol('wrong'))), c, 'Symbol');
    },
  );

  const required = withParams.filter((c) => !c.params[0]?.optional);
  it.each(required.map((c) => [c.label, c] as const))(
    '%s refuses a call without arguments',
    async (_label, c) => {
      expectArgumentError(await outcome(() => c.call()), c, '');
    },
  );
});

describe('the calls of the report', () => {
  const cases: [string, () => unknown, RegExp][] = [
    ['train()', () => api.train(undefined as never), /^train: argument 'config' must be a config object/],
    [
      'train(null)',
      () => api.train(null as never),
      /^train: argument 'config' must be a config object.*got null$/,
    ],
    [
      'train("configs/demo.yaml")',
      () => api.train('configs/demo.yaml' as never),
      /^train: argument 'config' must be a config object \(read a config file with loadConfig\(file\) first\), got string "configs\/demo.yaml"$/,
    ],
    [
      'train({ run: {} })',
      () => api.train({ run: {} } as never),
      /^2 problems in the configuration:\n {2}train: argument 'config': run\.name: expected/,
    ],
    [
      'computeMetrics()',
      () => api.computeMetrics(undefined as never, undefined as never, undefined as never),
      /argument 'pred'/,
    ],
    [
      'computeMetrics(null, ...)',
      () => api.computeMetrics(null as never, new Uint8Array(1), [1]),
      /^computeMetrics: argument 'pred' must be a typed array or an array of finite numbers, got null$/,
    ],
    [
      'computeMetrics("abc", "abc", [3])',
      () => api.computeMetrics('abc' as never, 'abc' as never, [3]),
      /^computeMetrics: argument 'pred' must be a typed array or an array of finite numbers, got string "abc"$/,
    ],
    [
      'loadConfig(42)',
      () => api.loadConfig(42 as never),
      /^loadConfig: argument 'file' must be a non-empty string, got number 42$/,
    ],
    [
      'writeNifti(path, null)',
      () => api.writeNifti('/tmp/ssmis-never-written.nii.gz', null as never),
      /^writeNifti: argument 'volume' must be a volume .*got null$/,
    ],
    [
      'slidingWindowInference(null model)',
      () =>
        api.slidingWindowInference(
          null as never,
          { data: new Float32Array(8), shape: [2, 2, 2, 1] },
          {
            patch: [16, 16, 16],
            strides: [8, 8, 8],
            numClasses: 2,
          },
        ),
      /^slidingWindowInference: argument 'model' must be a segmentation model .*got null$/,
    ],
    [
      'createVNet("x")',
      () => api.createVNet('x' as never),
      /^createVNet: argument 'options' must be an options object or nothing, got string "x"$/,
    ],
    [
      'createVNet({ name: 7 })',
      () => api.createVNet({ name: 7 } as never),
      /^createVNet: argument 'options.name' must be a non-empty string, got number 7$/,
    ],
  ];
  it.each(cases)('%s', async (_name, call, message) => {
    const { error } = await outcome(call);
    expect(error).toBeInstanceOf(api.InputError);
    expect((error as Error).message).toMatch(message);
  });
});
