import { requireInteger, requireNumber, requireObject } from '../util/args.js';

/**
 * Learning-rate schedules of docs/equations.md §3.3 (quirk Q6: per-config), with the keys of the config's
 * `train.stages.<stage>.schedule`, which is passed as it is.
 */
export type ScheduleSpec =
  | { name: 'constant' }
  | { name: 'poly'; power: number }
  | { name: 'step'; gamma: number; every: number };

/**
 * Learning rate used by the optimizer step of iteration `i` (1-based) of a stage with `total` iterations.
 * - poly (LA/BraTS "All" scripts): base·(1 − (i−1)/total)^power. The reference updates the rate after step i−1,
 *   so step 1 uses the base rate and step `total` uses base·(1/total)^power, never 0.
 * - step (CPAM scripts, BCP): base·gamma^⌊(i−1)/every⌋ (0.01 for 1–2500, 1e-3 for 2501–5000, …).
 * - constant (pre-training, ACDC): base.
 *
 * @param schedule The config's `train.stages.<stage>.schedule`.
 * @param base The optimizer's base learning rate.
 * @param i The iteration, 1-based.
 * @param total The stage's iterations.
 * @returns The learning rate of iteration `i`.
 * @throws InputError when `schedule` is not an object, `base` not a number, or `i`/`total` not integers ≥ 1.
 * @example
 * learningRate({ name: 'step', gamma: 0.1, every: 2500 }, 0.01, 2501, 5000); // 0.001
 */
export function learningRate(schedule: ScheduleSpec, base: number, i: number, total: number): number {
  requireObject('learningRate', 'schedule', schedule, 'a schedule ({ name: constant | poly | step, ... })');
  requireNumber('learningRate', 'base', base);
  requireInteger('learningRate', 'i', i, { min: 1 });
  requireInteger('learningRate', 'total', total, { min: 1 });
  switch (schedule.name) {
    case 'constant':
      return base;
    case 'poly':
      return base * (1 - (i - 1) / total) ** schedule.power;
    case 'step':
      return base * schedule.gamma ** Math.floor((i - 1) / schedule.every);
  }
}
