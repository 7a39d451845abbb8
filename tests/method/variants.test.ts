import { describe, expect, it } from 'vitest';
import { tf } from '../../src/backend/tf.js';
import { configSchema } from '../../src/config/schema.js';
import { cpamTrcmLoss } from '../../src/method/cpam-trcm-loss.js';
import { maskedCrossEntropy, maskedDiceLoss } from '../../src/method/losses.js';
import { sigmoidRampup } from '../../src/method/ramps.js';
import { forwardSamples } from '../../src/method/variants/forwards.js';
import {
  DEFAULT_STEP_CONFIG,
  getMethodVariant,
  METHOD_NAMES,
  type MethodVariant,
  methodVariants,
  pretrainStep,
  STEP_BATCHING,
  type StepBatch,
  type StepContext,
  type StepLoss,
} from '../../src/method/variants/index.js';
import { updateEma } from '../../src/nn/ema.js';
import type { SegmentationModel } from '../../src/nn/types.js';
import { createOptimizer, type Optimizer } from '../../src/train/optimizer.js';
import { InputError } from '../../src/util/errors.js';
import { disposeStepBatch, disposeStepContext, STEP_SPATIAL, stepBatch, stepContext } from './helpers.js';

/**
 * One full training step as the engine (src/train/train.ts) runs it: `prepare` outside the gradient, the
 * engine's own optimizer `step` on the student's named parameters with `loss` inside, `prepared.dispose()`,
 * then the teacher's EMA with `updateEma`. Returns the step's loss parts and the value `step` returned.
 */
function trainStep(
  variant: MethodVariant,
  ctx: StepContext,
  batch: StepBatch,
  opt: Optimizer,
): StepLoss & { value: number } {
  const prepared = variant.prepare(ctx, batch);
  let step: StepLoss | undefined;
  let value: number;
  try {
    value = opt.step(() => {
      step = variant.loss(ctx, batch, prepared);
      return step.loss;
    }, ctx.student.namedParameters());
  } finally {
    prepared.dispose();
  }
  if (variant.needsTeacher && ctx.teacher) updateEma(ctx.teacher, ctx.student, 0.99);
  ctx.iteration++;
  return { ...(step as StepLoss), value };
}

const ALL: MethodVariant[] = [...Object.values(methodVariants), pretrainStep];

describe('variant registry', () => {
  it('lists the five method variants, the names the config accepts, and rejects unknown names', () => {
    expect(METHOD_NAMES).toEqual(['supervised', 'mean-teacher', 'bcp', 'cpam', 'cpam-trcm']);
    expect(Object.keys(methodVariants)).toEqual([...METHOD_NAMES]);
    for (const name of METHOD_NAMES) {
      expect(getMethodVariant(name).name).toBe(name);
      const parsed = configSchema.parse({ run: { name: 'x' }, data: { dataset: 'd' }, method: { name } });
      expect(parsed.method.name).toBe(name);
    }
    expect(() => getMethodVariant('fixmatch')).toThrow(InputError);
    expect(() => getMethodVariant('toString')).toThrow(/unknown method variant/);
  });
});

for (const dims of [3, 2] as const) {
  describe(`${dims}-D variant steps`, () => {
    for (const variant of ALL) {
      it(`${variant.name}: finite loss, gradients through tf.variableGrads, numTensors flat over steps`, () => {
        const ctx = stepContext(dims);
        const batch = stepBatch(dims, 4, 3);
        // The reference's stage settings, through the engine's optimizer factory.
        const opt = createOptimizer({ name: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
        // Gradient through tf.variableGrads with respect to the student's parameters, as optimizer.step takes it.
        const prepared = variant.prepare(ctx, batch);
        let step: StepLoss | undefined;
        const { value, grads } = tf.variableGrads(() => {
          step = variant.loss(ctx, batch, prepared);
          return step.loss;
        }, [...ctx.student.namedParameters().values()]);
        expect(Number.isFinite(value.dataSync()[0])).toBe(true);
        expect((step as StepLoss).parts.total).toBeCloseTo(value.dataSync()[0], 5);
        const gradValues = Object.values(grads).flatMap((g) => Array.from(g.dataSync()));
        expect(Object.keys(grads)).toHaveLength(2);
        expect(gradValues.every(Number.isFinite)).toBe(true);
        expect(gradValues.some((g) => g !== 0)).toBe(true);
        tf.dispose([value, ...Object.values(grads)]);
        prepared.dispose();

        const weights = (model: SegmentationModel) =>
          [...model.namedParameters().values()].map((v) => Array.from(v.dataSync()));
        const student0 = weights(ctx.student);
        const teacher0 = weights(ctx.teacher);
        // The first step creates the optimizer's momentum slots; the count must stay flat after it.
        trainStep(variant, ctx, batch, opt);
        const before = tf.memory().numTensors;
        for (let i = 0; i < 3; i++) {
          const s = trainStep(variant, ctx, batch, opt);
          expect(Number.isFinite(s.parts.total)).toBe(true);
          expect(s.value).toBeCloseTo(s.parts.total, 5);
        }
        expect(tf.memory().numTensors).toBe(before);
        expect(weights(ctx.student)).not.toEqual(student0);
        // The EMA moved the teacher only for the variants that have one.
        if (variant.needsTeacher) expect(weights(ctx.teacher)).not.toEqual(teacher0);
        else expect(weights(ctx.teacher)).toEqual(teacher0);
        opt.dispose();
        disposeStepBatch(batch);
        disposeStepContext(ctx);
      });
    }
  });
}

describe('forward calls and batch positions (reference sampler order, E5, E12)', () => {
  const expectations: Record<string, { teacher: number[]; student: number[] }> = {
    supervised: { teacher: [], student: [4] },
    'mean-teacher': { teacher: [4], student: [8] },
    bcp: { teacher: [2, 2], student: [2, 2] },
    cpam: { teacher: [2, 2], student: [2, 2, 2, 2] },
    'cpam-trcm': { teacher: [2, 2], student: [2, 2, 2, 2] },
    pretrain: { teacher: [], student: [2] },
  };
  for (const variant of ALL) {
    it(`${variant.name}: teacher/student forward batch sizes and modes`, () => {
      for (const teacherMode of ['train', 'eval'] as const) {
        const ctx = stepContext(3, { teacher: { mode: teacherMode } });
        const batch = stepBatch(3, 4, 5);
        const prepared = variant.prepare(ctx, batch);
        const l = variant.loss(ctx, batch, prepared);
        l.loss.dispose();
        prepared.dispose();
        const e = expectations[variant.name];
        // The batch-norm batches: each call's groups (one call per step and network, the sub-batches of the
        // copy-paste methods as groups of it).
        const bnBatches = (calls: { batch: number; groups: number }[]) =>
          calls.flatMap((c) => new Array<number>(c.groups).fill(c.batch / c.groups));
        expect(ctx.teacher.calls.length).toBeLessThanOrEqual(1);
        expect(ctx.student.calls.length).toBe(1);
        expect(bnBatches(ctx.teacher.calls)).toEqual(e.teacher);
        expect(ctx.teacher.calls.every((c) => c.training === (teacherMode === 'train'))).toBe(true);
        expect(bnBatches(ctx.student.calls)).toEqual(e.student);
        expect(ctx.student.calls.every((c) => c.training)).toBe(true);
        // The table the config layer checks batches with says the same (labeled 4, unlabeled 4).
        const table = STEP_BATCHING[variant.name];
        const sizes = { labeled: 4, unlabeled: 4 };
        expect(new Set(e.student)).toEqual(new Set([forwardSamples(table.student, sizes)]));
        expect(new Set(e.teacher)).toEqual(
          new Set(table.teacher === null ? [] : [forwardSamples(table.teacher, sizes)]),
        );
        expect(variant.needsTeacher).toBe(table.teacher !== null);
        expect(variant.needsUnlabeled).toBe(table.unlabeled !== 'none');
        disposeStepBatch(batch);
        disposeStepContext(ctx);
      }
    });
  }

  it('copy-paste preparation: a = rows [0:sub], b = rows [sub:2·sub], mixes E8–E11 with one cuboid', () => {
    const ctx = stepContext(3);
    const spatial = STEP_SPATIAL[3];
    const fill = (values: number[]) => tf.concat(values.map((v) => tf.fill([1, ...spatial, 1], v)));
    const batch: StepBatch = {
      labeledImages: fill([1, 2, 3, 4]),
      labeledLabels: tf.concat([0, 1, 1, 0].map((v) => tf.fill([1, ...spatial], v, 'int32'))),
      unlabeledImages: fill([11, 12, 13, 14]),
    };
    const p = methodVariants['cpam-trcm'].prepare(ctx, batch);
    const m = Array.from(p.tensors.mask.dataSync());
    const v = m.length;
    const expectMix = (name: string, outside: number[], inside: number[]) => {
      const data = p.tensors[name].dataSync();
      for (let s = 0; s < 2; s++)
        for (let i = 0; i < v; i++) expect(data[s * v + i]).toBe(m[i] === 1 ? outside[s] : inside[s]);
    };
    expect(m.some((x) => x === 0) && m.some((x) => x === 1)).toBe(true);
    expectMix('xl', [1, 2], [11, 12]);
    expectMix('xu', [13, 14], [3, 4]);
    expectMix('xll', [1, 2], [3, 4]);
    expectMix('xuu', [11, 12], [13, 14]);
    expect(Array.from(p.tensors.labelA.dataSync())).toEqual([
      ...new Array(v).fill(0),
      ...new Array(v).fill(1),
    ]);
    expect(Array.from(p.tensors.labelB.dataSync())).toEqual([
      ...new Array(v).fill(1),
      ...new Array(v).fill(0),
    ]);
    expect(p.tensors.pseudoA.shape).toEqual([2, ...spatial]);
    expect(p.cuboid?.size).toEqual([2, 2, 1]);
    const f = p.diagnostics.pseudoForegroundFraction;
    expect(f).toBeGreaterThanOrEqual(0);
    expect(f).toBeLessThanOrEqual(1);
    p.dispose();
    disposeStepBatch(batch);
    disposeStepContext(ctx);
  });

  it('cpam-trcm loss = cpamTrcmLoss on the student outputs of X_l, X_u, X_ll, X_uu in that order', () => {
    const ctx = stepContext(3, { unlabeledWeight: 0.3 });
    const batch = stepBatch(3, 4, 9);
    const variant = methodVariants['cpam-trcm'];
    const p = variant.prepare(ctx, batch);
    const replay = ctx.dropoutRng.clone();
    const step = variant.loss(ctx, batch, p);
    const t = p.tensors;
    const expected = tf.tidy(() => {
      const f = (x: tf.Tensor) => ctx.student.apply(x, { training: true, rng: replay });
      const r = cpamTrcmLoss({
        logitsL: f(t.xl),
        logitsU: f(t.xu),
        logitsLL: f(t.xll),
        logitsUU: f(t.xuu),
        labelA: t.labelA,
        labelB: t.labelB,
        pseudoA: t.pseudoA,
        pseudoB: t.pseudoB,
        mask: t.mask,
        unlabeledWeight: 0.3,
      });
      return [r.l, r.u, r.ll, r.uu, r.total].map((s) => s.dataSync()[0]);
    });
    expect([step.parts.l, step.parts.u, step.parts.ll, step.parts.uu, step.parts.total]).toEqual(expected);
    expect(step.loss.dataSync()[0]).toBe(expected[4]);
    for (const key of ['reliableFraction', 'reliableFractionOutside', 'reliableFractionInside']) {
      expect(step.diagnostics[key]).toBeGreaterThanOrEqual(0);
      expect(step.diagnostics[key]).toBeLessThanOrEqual(1);
    }
    step.loss.dispose();
    p.dispose();
    disposeStepBatch(batch);
    disposeStepContext(ctx);
  });

  it('the step defaults are the config defaults (consistency weight 0.1: UA-MT)', () => {
    const parsed = configSchema.parse({ run: { name: 'x' }, data: { dataset: 'd' } }).method;
    const rows: [string, unknown, unknown, unknown][] = [
      ['maskRatio', DEFAULT_STEP_CONFIG.maskRatio, parsed.maskRatio, 2 / 3],
      ['startRange', DEFAULT_STEP_CONFIG.startRange, parsed.startRange, 'reference'],
      ['unlabeledWeight', DEFAULT_STEP_CONFIG.unlabeledWeight, parsed.unlabeledWeight, 0.5],
      ['teacher.mode', DEFAULT_STEP_CONFIG.teacher.mode, parsed.teacher.mode, 'train'],
      ['consistency.weight', DEFAULT_STEP_CONFIG.consistency.weight, parsed.consistency.weight, 0.1],
      [
        'consistency.rampupIterations',
        DEFAULT_STEP_CONFIG.consistency.rampupIterations,
        parsed.consistency.rampupIterations,
        6000,
      ],
    ];
    for (const [key, step, config, value] of rows) {
      expect(step, key).toBe(value);
      expect(config, key).toBe(value);
    }
    // A step config without `consistency` ramps up to 0.1, as a config that leaves it out.
    const ctx = stepContext(3);
    ctx.iteration = 3000;
    const batch = stepBatch(3, 4, 13);
    const variant = methodVariants['mean-teacher'];
    const p = variant.prepare(ctx, batch);
    const step = variant.loss(ctx, batch, p);
    expect(step.diagnostics.consistencyWeight).toBeCloseTo(0.1 * sigmoidRampup(3000, 6000), 12);
    step.loss.dispose();
    p.dispose();
    disposeStepBatch(batch);
    disposeStepContext(ctx);
  });

  it('mean-teacher: ½(CE + Dice) on labeled + ramped MSE of softmaxes on unlabeled', () => {
    const ctx = stepContext(3, {
      teacher: { mode: 'eval' },
      consistency: { weight: 0.7, rampupIterations: 100 },
    });
    ctx.iteration = 30;
    const batch = stepBatch(3, 4, 13);
    const variant = methodVariants['mean-teacher'];
    const p = variant.prepare(ctx, batch);
    const replay = ctx.dropoutRng.clone();
    const step = variant.loss(ctx, batch, p);
    const w = 0.7 * sigmoidRampup(30, 100);
    expect(step.diagnostics.consistencyWeight).toBeCloseTo(w, 12);
    const expected = tf.tidy(() => {
      const logits = ctx.student.apply(tf.concat([batch.labeledImages, batch.unlabeledImages as tf.Tensor]), {
        training: true,
        rng: replay,
      });
      const lab = tf.slice(logits, [0, 0, 0, 0, 0], [4, -1, -1, -1, -1]);
      const unl = tf.slice(logits, [4, 0, 0, 0, 0], [4, -1, -1, -1, -1]);
      const sup = tf.mul(
        tf.add(maskedCrossEntropy(lab, batch.labeledLabels), maskedDiceLoss(lab, batch.labeledLabels)),
        0.5,
      );
      const teacher = tf.softmax(ctx.teacher.apply(batch.unlabeledImages as tf.Tensor, { training: false }));
      const mse = tf.mean(tf.square(tf.sub(tf.softmax(unl), teacher)));
      return tf.add(sup, tf.mul(mse, w)).dataSync()[0];
    });
    expect(step.loss.dataSync()[0]).toBeCloseTo(expected, 6);
    step.loss.dispose();
    p.dispose();
    disposeStepBatch(batch);
    disposeStepContext(ctx);
  });
});

describe('batch validation', () => {
  it('rejects odd labeled batches, unequal unlabeled batches, missing teacher, bad labels and channels', () => {
    const ctx = stepContext(3);
    const odd = stepBatch(3, 3, 1);
    expect(() => methodVariants.bcp.prepare(ctx, odd)).toThrow(/two equal sub-batches/);
    const batch = stepBatch(3, 4, 1);
    const fewer = { ...batch, unlabeledImages: tf.slice(batch.unlabeledImages as tf.Tensor, 0, 2) };
    expect(() => methodVariants.cpam.prepare(ctx, fewer)).toThrow(/as many unlabeled as labeled/);
    expect(() => methodVariants.cpam.prepare({ ...ctx, teacher: undefined }, batch)).toThrow(
      /needs a teacher/,
    );
    expect(() =>
      methodVariants['mean-teacher'].prepare(ctx, { ...batch, unlabeledImages: undefined }),
    ).toThrow(/needs unlabeledImages/);
    const badLabels = { ...batch, labeledLabels: tf.fill(batch.labeledLabels.shape, 2, 'int32') };
    expect(() => methodVariants.supervised.prepare(ctx, badLabels)).toThrow(
      /contains 2, expected class ids in \[0, 1\]/,
    );
    const twoChannels = {
      ...batch,
      labeledImages: tf.concat([batch.labeledImages, batch.labeledImages], -1),
    };
    expect(() => methodVariants.supervised.prepare(ctx, twoChannels)).toThrow(/2 channels/);
    const p = methodVariants.bcp.prepare(ctx, batch);
    expect(() => methodVariants.cpam.loss(ctx, batch, p)).toThrow(/prepared tensor 'xll'/);
    p.dispose();
    tf.dispose([fewer.unlabeledImages, badLabels.labeledLabels, twoChannels.labeledImages]);
    disposeStepBatch(odd);
    disposeStepBatch(batch);
    disposeStepContext(ctx);
  });
});
