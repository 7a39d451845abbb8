/**
 * How each training step splits its batch into forwards: the one table the method variants run by and the config
 * layer checks batch sizes with (TF.js-free for that reason).
 */
import type { StepName } from './names.js';

/**
 * The samples of one forward's batch norm, in the batch keys' terms (`train.batch.labeled` / `.unlabeled`): what
 * one separate forward of the reference sees. The copy-paste steps run their sub-batch forwards as batch-norm
 * groups of one call (`ApplyOptions.groups`), which normalises each group as that separate forward would.
 */
export type ForwardBatch = 'labeled/2' | 'labeled' | 'labeled + unlabeled' | 'unlabeled/2' | 'unlabeled';

/** How one step uses its batch. */
export interface StepBatching {
  /**
   * Each student forward (its batch-norm batch): `labeled/2` = one per mix of a pair of sub-batches (pre-training
   * and the copy-paste methods; the copy-paste mixes run as groups of one call), `labeled` = the labeled batch,
   * `labeled + unlabeled` = both concatenated (mean teacher).
   */
  student: 'labeled/2' | 'labeled' | 'labeled + unlabeled';
  /**
   * Each teacher forward's batch-norm batch (`unlabeled/2`: one per unlabeled sub-batch, as groups of one call), or
   * null for a step without a teacher.
   */
  teacher: 'unlabeled/2' | 'unlabeled' | null;
  /**
   * Unlabeled images the step needs: none; exactly as many as labeled (the L-U / U-L mixes paste one into the
   * other voxel by voxel); or at least one.
   */
  unlabeled: 'none' | 'as many as labeled' | 'at least 1';
}

const COPY_PASTE: StepBatching = {
  student: 'labeled/2',
  teacher: 'unlabeled/2',
  unlabeled: 'as many as labeled',
};

/** Every step's batching (pre-training E27 mixes two labeled sub-batches; its unlabeled images are ignored). */
export const STEP_BATCHING: Readonly<Record<StepName, StepBatching>> = {
  pretrain: { student: 'labeled/2', teacher: null, unlabeled: 'none' },
  supervised: { student: 'labeled', teacher: null, unlabeled: 'none' },
  'mean-teacher': { student: 'labeled + unlabeled', teacher: 'unlabeled', unlabeled: 'at least 1' },
  bcp: COPY_PASTE,
  cpam: COPY_PASTE,
  'cpam-trcm': COPY_PASTE,
};

/** The samples of a forward for a batch of `labeled` and `unlabeled` images (sub-batches floor odd sizes). */
export function forwardSamples(forward: ForwardBatch, batch: { labeled: number; unlabeled: number }): number {
  switch (forward) {
    case 'labeled/2':
      return Math.floor(batch.labeled / 2);
    case 'labeled':
      return batch.labeled;
    case 'labeled + unlabeled':
      return batch.labeled + batch.unlabeled;
    case 'unlabeled/2':
      return Math.floor(batch.unlabeled / 2);
    case 'unlabeled':
      return batch.unlabeled;
  }
}

/** Whether a step pairs two sub-batches of labeled/2 (so the labeled batch must be even, at least 2). */
export function pairsSubBatches(step: StepName): boolean {
  return STEP_BATCHING[step].student === 'labeled/2';
}

/** The `needsTeacher` / `needsUnlabeled` flags of a step's method variant, read from {@link STEP_BATCHING}. */
export function stepNeeds(step: StepName): { needsTeacher: boolean; needsUnlabeled: boolean } {
  const batching = STEP_BATCHING[step];
  return { needsTeacher: batching.teacher !== null, needsUnlabeled: batching.unlabeled !== 'none' };
}
