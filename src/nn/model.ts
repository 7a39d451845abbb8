/**
 * Pieces shared by the functional networks (VNet, UNet2d) that keep every variable in one `ParameterStore`:
 * the input checks and forward context of `apply`, and the weight bookkeeping, clone and dispose members.
 */
import type { tf } from '../backend/tf.js';
import { InputError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { inputSizeMultiple, type NetworkName } from './downsampling.js';
import type { ForwardContext } from './layers.js';
import { countParameters, ParameterStore } from './params.js';
import type { ApplyOptions, CloneOptions, SegmentationModel } from './types.js';

/**
 * Checks a model input (store not disposed, `[N, ...spatial, inChannels]` with every spatial size a positive
 * multiple of the network's {@link inputSizeMultiple}, and float32, in that order) and returns the forward
 * context; without an `options.rng` dropout draws from the model-owned `fallbackRng`. `axes` names the spatial
 * axes in messages.
 */
export function forwardContext(
  label: string,
  network: NetworkName,
  store: ParameterStore,
  x: tf.Tensor,
  axes: readonly string[],
  inChannels: number,
  options: ApplyOptions,
  fallbackRng: Rng,
): ForwardContext {
  if (store.isDisposed) throw new InputError(`${label} ${store.prefix}: the model was disposed`);
  const s = x.shape;
  const dims = axes.length;
  const multiple = inputSizeMultiple(network);
  if (
    x.rank !== dims + 2 ||
    s[dims + 1] !== inChannels ||
    s.slice(1, dims + 1).some((d) => d % multiple !== 0 || d === 0)
  ) {
    const names = axes.join(', ');
    throw new InputError(
      `${label} ${store.prefix}: input must be [N, ${names}, ${inChannels}] with ${names} positive multiples of ${multiple}, ` +
        `found [${s}]`,
    );
  }
  if (x.dtype !== 'float32')
    throw new InputError(`${label} ${store.prefix}: input must be float32, found ${x.dtype}`);
  const groups = options.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1 || s[0] % groups !== 0) {
    throw new InputError(
      `${label} ${store.prefix}: options.groups must be a positive integer dividing the batch size ${s[0]}, found ${groups}`,
    );
  }
  return {
    training: options.training,
    updateStats: options.updateStats ?? true,
    rng: options.rng ?? fallbackRng,
    groups,
  };
}

/** The members of a SegmentationModel that only look at its ParameterStore. */
export type StoreModelMembers<M> = Pick<
  SegmentationModel,
  'parameterCount' | 'namedWeights' | 'namedParameters' | 'namedBuffers' | 'trainableWeights' | 'dispose'
> & { clone(options?: CloneOptions): M };

/**
 * Weight bookkeeping of a store-backed model. `clone` copies every variable into a new store named
 * `options.name ?? name` (initialised from `Rng(seed)`, then overwritten by the snapshot) and hands it to
 * `rebuild`, which builds the same architecture around it.
 */
export function storeModelMembers<M>(
  store: ParameterStore,
  name: string,
  seed: number,
  rebuild: (cloneName: string, copy: ParameterStore) => M,
): StoreModelMembers<M> {
  const params = countParameters(store.specs);
  return {
    parameterCount: () => params,
    namedWeights: () => store.named(),
    namedParameters: () => store.namedParameters(),
    namedBuffers: () => store.namedBuffers(),
    trainableWeights: () => [...store.namedParameters().values()],
    clone: (c: CloneOptions = {}) => {
      const cloneName = c.name ?? name;
      const copy = new ParameterStore(cloneName, store.specs, new Rng(seed), {
        trainable: c.trainable ?? true,
        values: store.named(),
      });
      return rebuild(cloneName, copy);
    },
    dispose: () => store.dispose(),
  };
}
