/**
 * The reference's `TwoStreamBatchSampler` (docs/equations.md §2.6, OFF/BCP `dataloaders/dataset.py`), used for LA,
 * BraTS and ACDC. The pancreas pipeline has no sampler (four zipped fixed-order loaders, §2.6 last bullet); it
 * is out of scope here — pancreas configs use this sampler like LA (documented difference).
 *
 * Per epoch: primary = a fresh permutation of the labeled indices cut into groups of `labeledBatch` (a trailing
 * incomplete group is dropped); secondary = an endless chain of fresh permutations of the unlabeled indices cut
 * into groups of `unlabeledBatch` (a group may straddle two permutations). The secondary chain restarts at every
 * epoch (the reference builds a new iterator per epoch). Draw order, as Python's lazy generators do it: the
 * primary permutation when the epoch starts, then each secondary permutation only when the chain runs dry.
 * The sampler owns its Rng (give it its own stream): `getState` includes the Rng state.
 */

import { requireNumberArray, requireObject, requireRng } from '../util/args.js';
import { InputError } from '../util/errors.js';
import type { Rng, RngState } from '../util/rng.js';

export interface TwoStreamBatchSamplerOptions {
  /** Labeled unit indices (any integers; the sampler permutes these values). */
  labeled: readonly number[];
  /** Unlabeled unit indices; ignored in `supervised` mode. */
  unlabeled?: readonly number[];
  labeledBatch: number;
  /** 0 or absent in `supervised` mode. */
  unlabeledBatch?: number;
  /** `two-stream` (default): labeled + unlabeled groups; `supervised`: labeled groups only. */
  mode?: 'two-stream' | 'supervised';
  rng: Rng;
}

export interface SampledBatch {
  /** Primary (labeled) group, `labeledBatch` values. */
  labeled: number[];
  /** Secondary (unlabeled) group, `unlabeledBatch` values ([] in supervised mode). */
  unlabeled: number[];
  /** 0-based epoch of this batch. */
  epoch: number;
  /** 0-based index of this batch within its epoch. */
  iterationInEpoch: number;
}

/** Everything needed to continue identically after a resume (JSON-serialisable). */
export interface SamplerState {
  rng: RngState;
  epoch: number;
  /** Next batch index within the epoch; equals iterationsPerEpoch once the epoch is used up. */
  iterationInEpoch: number;
  /** Primary permutation of the current epoch ([] before the first epoch starts). */
  primary: number[];
  /** Current secondary permutation and the position of its next unused element. */
  secondary: number[];
  secondaryPos: number;
  /** Fingerprint of the construction options, so a state is not applied to a different sampler. */
  signature: string;
}

/**
 * Draws the unit indices of each training batch from two streams, as the reference's `TwoStreamBatchSampler`
 * (see the module comment for the exact draw order): a labeled group per batch from a fresh permutation per
 * epoch, and an unlabeled group from an endless chain of permutations; `supervised` mode draws labeled groups
 * only. {@link BatchLoader} uses it; its state makes a resumed run draw the same batches.
 *
 * @example
 * import { Rng, TwoStreamBatchSampler } from 'ssmis';
 *
 * const sampler = new TwoStreamBatchSampler({
 *   labeled: [0, 1, 2, 3, 4, 5, 6, 7],
 *   unlabeled: [8, 9, 10, 11, 12],
 *   labeledBatch: 2,
 *   unlabeledBatch: 2,
 *   rng: new Rng(1),
 * });
 * const { labeled, unlabeled, epoch } = sampler.next(); // two labeled and two unlabeled indices, epoch 0
 * const saved = sampler.getState(); // restore with sampler.setState(saved)
 * console.log(labeled, unlabeled, epoch, sampler.iterationsPerEpoch, saved.epoch); // 4 batches per epoch
 */
export class TwoStreamBatchSampler {
  readonly labeledBatch: number;
  readonly unlabeledBatch: number;
  readonly mode: 'two-stream' | 'supervised';
  /** floor(nLabeled / labeledBatch), the reference's `__len__`. */
  readonly iterationsPerEpoch: number;
  private readonly labeled: number[];
  private readonly unlabeled: number[];
  private readonly rng: Rng;
  private epoch = -1;
  private iterationInEpoch = 0;
  private primary: number[] = [];
  private secondary: number[] = [];
  private secondaryPos = 0;

  /**
   * Creates a sampler positioned before its first epoch (nothing is drawn until {@link TwoStreamBatchSampler.next}).
   *
   * @param options `labeled` and `unlabeled` unit indices (non-negative integers), `labeledBatch`,
   *   `unlabeledBatch` (two-stream mode), `mode` (`'two-stream'`, the default, or `'supervised'`) and `rng` (the
   *   sampler's own stream: its state is part of the sampler's).
   * @returns The sampler; `iterationsPerEpoch` is floor(labeled / labeledBatch), the reference's `__len__`.
   * @throws InputError when `options` is not an object, the index lists are not non-negative integers, `rng` is
   *   not an Rng, `labeledBatch` is not a positive integer or larger than the labeled units, or, in two-stream
   *   mode, `unlabeledBatch` is not a positive integer or there are no unlabeled units.
   */
  constructor(options: TwoStreamBatchSamplerOptions) {
    requireObject('TwoStreamBatchSampler', 'options', options);
    requireNumberArray('TwoStreamBatchSampler', 'options.labeled', options.labeled, {
      integer: true,
      min: 0,
    });
    if (options.unlabeled !== undefined)
      requireNumberArray('TwoStreamBatchSampler', 'options.unlabeled', options.unlabeled, {
        integer: true,
        min: 0,
      });
    requireRng('TwoStreamBatchSampler', 'options.rng', options.rng);
    this.mode = options.mode ?? 'two-stream';
    this.labeled = [...options.labeled];
    this.unlabeled = this.mode === 'supervised' ? [] : [...(options.unlabeled ?? [])];
    this.labeledBatch = options.labeledBatch;
    this.unlabeledBatch = this.mode === 'supervised' ? 0 : (options.unlabeledBatch ?? 0);
    this.rng = options.rng;
    if (!Number.isInteger(this.labeledBatch) || this.labeledBatch < 1) {
      throw new InputError(
        `sampler: labeled batch size must be a positive integer, got ${this.labeledBatch}`,
      );
    }
    this.iterationsPerEpoch = Math.floor(this.labeled.length / this.labeledBatch);
    if (this.iterationsPerEpoch === 0) {
      throw new InputError(
        `sampler: ${this.labeled.length} labeled units cannot fill one labeled batch of ${this.labeledBatch} ` +
          '(iterations per epoch = floor(labeled / labeled batch) = 0); label more cases or lower the labeled batch',
      );
    }
    if (this.mode === 'two-stream') {
      if (!Number.isInteger(this.unlabeledBatch) || this.unlabeledBatch < 1) {
        throw new InputError(
          `sampler: unlabeled batch size must be a positive integer in two-stream mode, got ${this.unlabeledBatch}`,
        );
      }
      if (this.unlabeled.length === 0) {
        throw new InputError(
          `sampler: two-stream mode needs unlabeled units, got 0 (with ${this.labeled.length} labeled); ` +
            'use the supervised mode or leave some train cases unlabeled',
        );
      }
    }
  }

  /** The next batch; epochs roll over automatically. */
  next(): SampledBatch {
    if (this.epoch < 0 || this.iterationInEpoch >= this.iterationsPerEpoch) this.startEpoch();
    const it = this.iterationInEpoch;
    const labeled = this.primary.slice(it * this.labeledBatch, (it + 1) * this.labeledBatch);
    const unlabeled: number[] = [];
    while (unlabeled.length < this.unlabeledBatch) {
      if (this.secondaryPos >= this.secondary.length) {
        this.secondary = this.permute(this.unlabeled);
        this.secondaryPos = 0;
      }
      unlabeled.push(this.secondary[this.secondaryPos++]);
    }
    this.iterationInEpoch++;
    return { labeled, unlabeled, epoch: this.epoch, iterationInEpoch: it };
  }

  getState(): SamplerState {
    return {
      rng: this.rng.getState(),
      epoch: this.epoch,
      iterationInEpoch: this.iterationInEpoch,
      primary: [...this.primary],
      secondary: [...this.secondary],
      secondaryPos: this.secondaryPos,
      signature: this.signature(),
    };
  }

  setState(state: SamplerState): void {
    requireObject('TwoStreamBatchSampler.setState', 'state', state, 'a sampler state (getState())');
    if (state.signature !== this.signature()) {
      throw new InputError(
        `sampler state does not match this sampler (saved ${state.signature}, now ${this.signature()}); ` +
          'the labeled/unlabeled units or batch sizes changed since the state was saved',
      );
    }
    this.rng.setState(state.rng);
    this.epoch = state.epoch;
    this.iterationInEpoch = state.iterationInEpoch;
    this.primary = [...state.primary];
    this.secondary = [...state.secondary];
    this.secondaryPos = state.secondaryPos;
  }

  private startEpoch(): void {
    this.epoch++;
    this.iterationInEpoch = 0;
    this.primary = this.permute(this.labeled);
    // A new epoch builds a new secondary iterator: the rest of the old permutation is discarded.
    this.secondary = [];
    this.secondaryPos = 0;
  }

  /** `np.random.permutation(values)`: a shuffled copy. */
  private permute(values: readonly number[]): number[] {
    return this.rng.shuffle([...values]);
  }

  private signature(): string {
    return `${this.mode}:${this.labeled.length}x${this.labeledBatch}+${this.unlabeled.length}x${this.unlabeledBatch}`;
  }
}
