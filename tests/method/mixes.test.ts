/**
 * `method.mixes`: the set of copy-paste mixes as a step setting. The defaults reproduce the losses and gradients
 * the variants gave before the setting existed (pinned below, computed with the code before the change; the
 * gradients now to float32 rounding, see `expectAsBefore`); a mix
 * left out removes exactly its forward and its loss term, the total being the plain sum of the other terms.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unregisterFastKernels } from '../../src/backend/kernels/index.js';
import { tf } from '../../src/backend/tf.js';
import { cpamLoss, cpamLoss2d, mixesLoss } from '../../src/method/cpam-loss.js';
import { cpamTrcmLoss, cpamTrcmLoss2d, trcmMixesLoss } from '../../src/method/cpam-trcm-loss.js';
import {
  METHOD_MIXES,
  MIX_NAMES,
  type MixName,
  methodVariants,
  pretrainStep,
  type StepBatch,
  type StepConfig,
  type StepContext,
  type StepLoss,
} from '../../src/method/variants/index.js';
import { mixesProblem } from '../../src/method/variants/names.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';
import { activateSuiteFastKernels } from '../helpers/fast-kernels.js';
import {
  disposeStepBatch,
  disposeStepContext,
  randomLabels,
  randomLogits,
  stepBatch,
  stepContext,
  type TinyModel,
} from './helpers.js';

const COPY_PASTE = ['bcp', 'cpam', 'cpam-trcm'] as const;
type CopyPaste = (typeof COPY_PASTE)[number];

const makeBatch = (dims: 2 | 3): StepBatch => stepBatch(dims, 4, 7);

function makeContext(dims: 2 | 3, config: StepConfig = {}): StepContext & { student: TinyModel } {
  return stepContext(dims, { unlabeledWeight: 0.3, ...config });
}

function dispose(ctx: StepContext, batch: StepBatch): void {
  disposeStepContext(ctx);
  disposeStepBatch(batch);
}

/** One step's loss parts and the gradients of the student's two parameters. */
function stepWithGradients(
  name: CopyPaste,
  dims: 2 | 3,
  config: StepConfig = {},
): { parts: Record<string, number>; grads: number[][] } {
  const batch = makeBatch(dims);
  const ctx = makeContext(dims, config);
  const variant = methodVariants[name];
  const prepared = variant.prepare(ctx, batch);
  let step: StepLoss | undefined;
  const { value, grads } = tf.variableGrads(() => {
    step = variant.loss(ctx, batch, prepared);
    return step.loss;
  }, [...ctx.student.namedParameters().values()]);
  const out = {
    parts: (step as StepLoss).parts,
    grads: Object.values(grads).map((g) => Array.from(g.dataSync())),
  };
  expect(value.dataSync()[0]).toBe(out.parts.total);
  tf.dispose([value, ...Object.values(grads)]);
  prepared.dispose();
  dispose(ctx, batch);
  return out;
}

/**
 * The loss parts and student gradients of one step of each copy-paste variant with its default mixes, computed
 * with the code before `method.mixes` existed (same batch, context and seeds as `stepWithGradients`). The 3-D
 * `ll` and `uu` parts (and the cpam-trcm total) were re-pinned when the 3-D mix loss became one fused op with
 * float64 sums on the fast kernels: each moved by one float32 ulp.
 */
const BEFORE: Record<string, { parts: Record<string, number>; grads: number[][] }> = {
  'bcp/3': {
    parts: { total: 2.849010467529297, l: 1.0505170822143555, u: 1.798493504524231 },
    grads: [
      [0.916235625743866, -0.9162355661392212],
      [-0.13310149312019348, 0.13310149312019348],
    ],
  },
  'cpam/3': {
    parts: {
      total: 5.595931053161621,
      l: 1.0505170822143555,
      u: 1.798493504524231,
      ll: 2.1506712436676025,
      uu: 0.5962496399879456,
    },
    grads: [
      [1.7610976696014404, -1.7610976696014404],
      [-0.17871376872062683, 0.17871375381946564],
    ],
  },
  'cpam-trcm/3': {
    parts: {
      total: 5.384080410003662,
      l: 0.924491822719574,
      u: 1.7509377002716064,
      ll: 2.1506712436676025,
      uu: 0.5579797625541687,
    },
    grads: [
      [1.6735750436782837, -1.6735750436782837],
      [-0.052979759871959686, 0.05297974497079849],
    ],
  },
  'bcp/2': {
    parts: { total: 3.0619726181030273, l: 1.4487950801849365, u: 1.6131774187088013 },
    grads: [
      [0.4688575267791748, -0.21158862113952637, -0.18315467238426208, -0.07411423325538635],
      [0.14877331256866455, 0.08677084743976593, -0.09984157979488373, -0.13570259511470795],
    ],
  },
  'cpam/2': {
    parts: {
      total: 6.236899375915527,
      l: 1.4487950801849365,
      u: 1.6131774187088013,
      ll: 2.5692474842071533,
      uu: 0.6056792736053467,
    },
    grads: [
      [0.9687668085098267, -0.42247554659843445, -0.3809526860713959, -0.1653386950492859],
      [0.30782005190849304, 0.18013153970241547, -0.1740741729736328, -0.3138774335384369],
    ],
  },
  'cpam-trcm/2': {
    parts: {
      total: 6.323529243469238,
      l: 1.4920024871826172,
      u: 1.6035321950912476,
      ll: 2.5692474842071533,
      uu: 0.6587466597557068,
    },
    grads: [
      [1.0091791152954102, -0.4318116307258606, -0.41258978843688965, -0.1647777557373047],
      [0.23800146579742432, 0.17663723230361938, -0.1683734655380249, -0.2462652325630188],
    ],
  },
};

/**
 * A step against its pin: the loss parts bit for bit, the gradients within float32 rounding (the mixes' forwards
 * have since become batch-norm groups of one forward, so each weight gradient is one sum over the stacked batch
 * instead of one per forward added on the tape: the same value, rounded differently in the last bits).
 */
function expectAsBefore(
  step: { parts: Record<string, number>; grads: number[][] },
  before: { parts: Record<string, number>; grads: number[][] },
): void {
  expect(step.parts).toEqual(before.parts);
  expect(step.grads.map((g) => g.length)).toEqual(before.grads.map((g) => g.length));
  step.grads.forEach((g, i) => {
    g.forEach((v, j) => {
      expect(Math.abs(v - before.grads[i][j])).toBeLessThanOrEqual(
        1e-6 * Math.max(1, Math.abs(before.grads[i][j])),
      );
    });
  });
}

/** Every non-empty subset of the four mixes, in E12 order. */
const SUBSETS: MixName[][] = Array.from({ length: 15 }, (_, bits) =>
  MIX_NAMES.filter((_m, i) => ((bits + 1) >> i) & 1),
);
const TERM: Record<MixName, 'l' | 'u' | 'll' | 'uu'> = { lu: 'l', ul: 'u', ll: 'll', uu: 'uu' };
const IMAGE: Record<MixName, string> = { lu: 'xl', ul: 'xu', ll: 'xll', uu: 'xuu' };

describe('method.mixes defaults: the variant names are presets', () => {
  // The pins were taken on the fast kernels (the product default); the stock kernels differ in the last bits.
  let registered = false;
  beforeAll(async () => {
    registered = await activateSuiteFastKernels();
  });
  afterAll(() => {
    if (registered) unregisterFastKernels();
  });

  it('bcp = [lu, ul], cpam = all four, cpam-trcm = all four (TRCM on); none for the other steps', () => {
    expect(METHOD_MIXES.bcp?.default).toEqual(['lu', 'ul']);
    expect(METHOD_MIXES.cpam?.default).toEqual(['lu', 'ul', 'll', 'uu']);
    expect(METHOD_MIXES['cpam-trcm']?.default).toEqual(['lu', 'ul', 'll', 'uu']);
    for (const step of ['supervised', 'mean-teacher', 'pretrain'] as const)
      expect(METHOD_MIXES[step]).toBe(undefined);
  });

  for (const dims of [3, 2] as const) {
    for (const name of COPY_PASTE) {
      it(`${name} ${dims}-D: the default mixes give the same loss parts as before bit for bit, the same gradients to float32 rounding`, () => {
        const before = BEFORE[`${name}/${dims}`];
        const step = stepWithGradients(name, dims);
        expectAsBefore(step, before);
        // The preset spelled out, in any order, is the same step, bit for bit.
        const preset = [...(METHOD_MIXES[name]?.default ?? [])].reverse();
        expect(stepWithGradients(name, dims, { mixes: preset })).toEqual(step);
      });
    }
  }

  it('bcp with [lu, ul, ll, uu] is the cpam step (the two names differ only in their preset)', () => {
    for (const dims of [3, 2] as const) {
      expect(stepWithGradients('bcp', dims, { mixes: [...MIX_NAMES] })).toEqual(
        stepWithGradients('cpam', dims),
      );
      expect(stepWithGradients('cpam', dims, { mixes: ['lu', 'ul'] })).toEqual(
        stepWithGradients('bcp', dims),
      );
      expectAsBefore(stepWithGradients('bcp', dims, { mixes: [...MIX_NAMES] }), BEFORE[`cpam/${dims}`]);
    }
  });
});

describe('an absent mix removes exactly its forward and its loss term', () => {
  /**
   * Runs one step with `mixes`, then the oracle: the full four-mix loss (cpamLoss / cpamTrcmLoss) on the same
   * student logits of the present mixes (replaying the dropout stream, forwards in E12 order) and logits of the
   * absent ones from an extra forward. Present terms must equal the full loss's terms, the total their float32
   * sum in E12 order, and nothing else may appear.
   */
  function checkSubset(name: 'cpam' | 'cpam-trcm', dims: 2 | 3, mixes: MixName[]): void {
    const batch = makeBatch(dims);
    const ctx = makeContext(dims, { mixes, ...(dims === 2 ? { lossDice: 'batch2d' } : {}) });
    const variant = methodVariants[name];
    const p = variant.prepare(ctx, batch);
    // Only the present mixes are built.
    expect(Object.keys(p.tensors).filter((k) => k.startsWith('x'))).toEqual(mixes.map((m) => IMAGE[m]));
    const replay = ctx.dropoutRng.clone();
    const calls = ctx.student.calls.length;
    const step = variant.loss(ctx, batch, p);
    // One forward, a batch-norm group per present mix.
    expect(ctx.student.calls.slice(calls)).toEqual([
      { batch: 2 * mixes.length, training: true, groups: mixes.length },
    ]);
    expect(Object.keys(step.parts).sort()).toEqual(['total', ...mixes.map((m) => TERM[m])].sort());
    const t = p.tensors;
    const oracle = tf.tidy(() => {
      const f = (x: tf.Tensor) => ctx.student.apply(x, { training: true, rng: replay });
      const present = Object.fromEntries(mixes.map((m) => [m, f(t[IMAGE[m]])]));
      const filler = f(t.xl ?? t[IMAGE[mixes[0]]]);
      const logits = (m: MixName) => present[m] ?? filler;
      const inputs = {
        logitsL: logits('lu'),
        logitsU: logits('ul'),
        logitsLL: logits('ll'),
        logitsUU: logits('uu'),
        labelA: t.labelA,
        labelB: t.labelB,
        pseudoA: t.pseudoA,
        pseudoB: t.pseudoB,
        mask: t.mask,
        unlabeledWeight: 0.3,
      };
      const full =
        name === 'cpam'
          ? (dims === 3 ? cpamLoss : cpamLoss2d)(inputs)
          : (dims === 3 ? cpamTrcmLoss : cpamTrcmLoss2d)(inputs);
      return { l: full.l, u: full.u, ll: full.ll, uu: full.uu };
    });
    const values = Object.fromEntries(Object.entries(oracle).map(([k, v]) => [k, v.dataSync()[0]]));
    tf.dispose(Object.values(oracle));
    let sum = 0;
    for (const m of mixes) {
      expect(step.parts[TERM[m]], `${name} ${mixes} term ${TERM[m]}`).toBe(values[TERM[m]]);
      sum = Math.fround(sum + values[TERM[m]]);
    }
    expect(step.parts.total, `${name} ${mixes} total`).toBe(sum);
    step.loss.dispose();
    p.dispose();
    dispose(ctx, batch);
  }

  for (const dims of [3, 2] as const) {
    it(`cpam ${dims}-D: each of the 15 non-empty subsets`, () => {
      for (const mixes of SUBSETS) checkSubset('cpam', dims, mixes);
    });
    it(`cpam-trcm ${dims}-D: with and without uu (lu, ul, ll are required)`, () => {
      checkSubset('cpam-trcm', dims, ['lu', 'ul', 'll']);
      checkSubset('cpam-trcm', dims, ['lu', 'ul', 'll', 'uu']);
    });
  }

  it('mixesLoss and trcmMixesLoss: the terms of the mixes given, and their plain sum', () => {
    const rng = new Rng(3);
    const shape = [2, 4, 4, 2];
    const inputs = {
      logitsL: randomLogits(rng, [...shape, 2]),
      logitsU: randomLogits(rng, [...shape, 2]),
      logitsLL: randomLogits(rng, [...shape, 2]),
      logitsUU: randomLogits(rng, [...shape, 2]),
      labelA: randomLabels(rng, shape, 2),
      labelB: randomLabels(rng, shape, 2),
      pseudoA: randomLabels(rng, shape, 2),
      pseudoB: randomLabels(rng, shape, 2),
      mask: tf.tidy(() =>
        tf.cast(tf.greater(tf.randomUniform(shape.slice(1), 0, 1, 'float32', 5), 0.5), 'float32'),
      ),
    };
    const full = cpamLoss(inputs);
    const ul = mixesLoss({ ...inputs, logitsL: undefined, logitsLL: undefined }, ['uu', 'ul']);
    expect(Object.keys(ul).sort()).toEqual(['total', 'u', 'uu']);
    expect(ul.u?.dataSync()[0]).toBe(full.u.dataSync()[0]);
    expect(ul.uu?.dataSync()[0]).toBe(full.uu.dataSync()[0]);
    expect(ul.total.dataSync()[0]).toBe(Math.fround(full.u.dataSync()[0] + full.uu.dataSync()[0]));
    const trcm = cpamTrcmLoss(inputs);
    const noUu = trcmMixesLoss({ ...inputs, logitsUU: undefined }, ['lu', 'ul', 'll']);
    expect(Object.keys(noUu).sort()).toEqual(['l', 'll', 'reliableA', 'reliableB', 'total', 'u']);
    const [l, u, ll] = [trcm.l, trcm.u, trcm.ll].map((s) => s.dataSync()[0]);
    expect([noUu.l, noUu.u, noUu.ll].map((s) => s?.dataSync()[0])).toEqual([l, u, ll]);
    expect(noUu.total.dataSync()[0]).toBe(Math.fround(Math.fround(l + u) + ll));
    expect(Array.from(noUu.reliableA.dataSync())).toEqual(Array.from(trcm.reliableA.dataSync()));
    // A mix whose logits are missing, an empty or unknown list, and TRCM without L-L are refused.
    expect(() => mixesLoss({ ...inputs, logitsLL: undefined }, ['ll'])).toThrow(/inputs\.logitsLL/);
    expect(() => mixesLoss(inputs, [])).toThrow(/mixesLoss: argument 'mixes' must be a non-empty array/);
    expect(() => mixesLoss(inputs, ['lx' as MixName])).toThrow(/argument 'mixes\[0\]' must be one of/);
    expect(() => trcmMixesLoss(inputs, ['lu', 'ul', 'uu'])).toThrow(
      "trcmMixesLoss: mixes: expected lu, ul, ll among the mixes of method 'cpam-trcm' (TRCM's reliability masks read the L-U, U-L and L-L predictions), got [lu, ul, uu]",
    );
    tf.dispose([...Object.values(inputs), ...Object.values(full), ...Object.values(ul)]);
    tf.dispose([...Object.values(trcm), ...Object.values(noUu)]);
  });
});

describe('which mixes each method accepts', () => {
  it('mixesProblem: none for supervised and mean-teacher; distinct known names; cpam-trcm keeps lu, ul, ll', () => {
    expect(mixesProblem('supervised', ['lu'])).toBe(
      "no value for method 'supervised' (it has no copy-paste mixes), got [lu]",
    );
    expect(mixesProblem('mean-teacher', [])).toMatch(/^no value for method 'mean-teacher'/);
    for (const method of ['bcp', 'cpam'] as const) {
      for (const mixes of SUBSETS) expect(mixesProblem(method, mixes)).toBe(undefined);
      expect(mixesProblem(method, [])).toBe(`at least one mix for method '${method}', got []`);
    }
    expect(mixesProblem('cpam', ['lu', 'll', 'lu'])).toBe("distinct mixes, got 'lu' twice in [lu, ll, lu]");
    expect(mixesProblem('cpam', ['lu', 'LL'])).toBe("mixes among lu, ul, ll, uu, got 'LL' in [lu, LL]");
    const trcmOk = SUBSETS.filter((s) => mixesProblem('cpam-trcm', s) === undefined);
    expect(trcmOk).toEqual([
      ['lu', 'ul', 'll'],
      ['lu', 'ul', 'll', 'uu'],
    ]);
  });

  it('the variants refuse what the config refuses, naming method.mixes, before any forward', () => {
    const cases: [string, StepConfig, string][] = [
      ['supervised', { mixes: ['lu', 'ul'] }, "method.mixes: expected no value for method 'supervised'"],
      ['mean-teacher', { mixes: ['uu'] }, "method.mixes: expected no value for method 'mean-teacher'"],
      ['cpam-trcm', { mixes: ['lu', 'ul', 'uu'] }, 'method.mixes: expected lu, ul, ll among the mixes'],
      ['cpam', { mixes: [] }, "method.mixes: expected at least one mix for method 'cpam', got []"],
    ];
    for (const [name, config, message] of cases) {
      const batch = makeBatch(3);
      const ctx = makeContext(3, config);
      const variant = methodVariants[name as keyof typeof methodVariants];
      expect(() => variant.prepare(ctx, batch)).toThrow(InputError);
      expect(() => variant.prepare(ctx, batch)).toThrow(`method variant '${name}': ${message}`);
      expect(ctx.student.calls).toEqual([]);
      expect((ctx.teacher as TinyModel).calls).toEqual([]);
      dispose(ctx, batch);
    }
  });

  it('pre-training ignores the self-training method’s mixes (it has its one L-L mix, E27)', () => {
    const batch = makeBatch(3);
    const ctx = makeContext(3, { mixes: ['lu', 'uu'] });
    const p = pretrainStep.prepare(ctx, batch);
    const step = pretrainStep.loss(ctx, batch, p);
    expect(Number.isFinite(step.parts.total)).toBe(true);
    step.loss.dispose();
    p.dispose();
    dispose(ctx, batch);
  });
});
