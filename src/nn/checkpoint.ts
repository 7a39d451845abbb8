/**
 * Network weights (and optimizer slots) as one safetensors file (simple, library-free, safe to load). Tensor names:
 * `<prefix>.<state-dict key>` per model (`student.encoder.block_one.conv.0.weight`, `teacher.…`), optimizer
 * slots `optimizer.<key>.<slot>`, plus any caller-named extra tensors. The JSON sidecar (config, RNG states,
 * history) is the training loop's business; `metadata` carries short strings only.
 *
 * Layout rule to PyTorch: kernels are stored in TF.js layout, conv `[kx, ky, kz, in, out]` and transposed conv
 * `[kx, ky, kz, out, in]`; PyTorch's `[out, in, kx, ky, kz]` (conv) and `[in, out, kx, ky, kz]` (transposed)
 * are both the axis permutation (4, 3, 0, 1, 2) of them, i.e. `torch_w = tf_w.permute(4, 3, 0, 1, 2)`; 2-D
 * kernels use (3, 2, 0, 1); vectors (biases, BN) are unchanged. `toPyTorchLayout` / `fromPyTorchLayout`
 * apply the rule. PyTorch's `num_batches_tracked` buffers and the reference's unused heads (Q16) have no
 * counterpart and must be dropped when importing a reference checkpoint.
 */
import { prefetchHostValues, syncReadable } from '../backend/host-read.js';
import { tf } from '../backend/tf.js';
import {
  readSafetensors,
  type SafetensorsFile,
  type SafetensorsTensor,
  writeSafetensors,
} from '../io/safetensors.js';
import { requireNumberArray, requireObject, requireString } from '../util/args.js';
import { InputError } from '../util/errors.js';
import type { SegmentationModel } from './types.js';

/** A model, or any map of state-dict key → variable. */
export type WeightSource = SegmentationModel | Map<string, tf.Variable>;

/**
 * Serialisable optimizer state: `optimizer.<key>.<slot>` tensors (float32 slots, int32 Adam step counts), the
 * form a checkpoint stores (defined with the file format, so the optimizers of the train layer import it
 * downwards).
 */
export interface OptimizerState {
  type: 'sgd' | 'adam';
  tensors: Record<string, SafetensorsTensor>;
}

/** What a checkpoint needs of an optimizer (train/optimizer.ts's `Optimizer` is one). */
export interface CheckpointOptimizer {
  getState(): OptimizerState;
  /** The state read with `await data()` (used when present: the `webgpu` backend has no synchronous read). */
  getStateAsync?(): Promise<OptimizerState>;
  /** Replaces the state; with `vars`, each slot's key and shape are checked against the parameters. */
  setState(state: OptimizerState, vars?: Map<string, tf.Variable>): void;
}

export interface SaveWeightsOptions {
  /** Name prefix → model, e.g. `{ student, teacher }`. */
  models: Record<string, WeightSource>;
  /** Optimizer (or its state) whose slots are stored as `optimizer.<key>.<slot>`. */
  optimizer?: CheckpointOptimizer | OptimizerState;
  /** Additional tensors under their own names (must not collide with the prefixes above). */
  extra?: Record<string, SafetensorsTensor>;
  metadata?: Record<string, string>;
}

export interface LoadWeightsOptions {
  /** Name prefix → model to fill; every key must be present in the file with the same shape. */
  models: Record<string, WeightSource>;
  /** When given, the file's `optimizer.*` tensors are loaded into it (checked against `optimizerVars`). */
  optimizer?: CheckpointOptimizer;
  optimizerVars?: Map<string, tf.Variable>;
}

export interface LoadedWeights {
  metadata: Record<string, string>;
  /** The file's optimizer state, if it has one (already applied when `optimizer` was given). */
  optimizerState?: OptimizerState;
  /** Tensors that belong to no model prefix and are not optimizer slots. */
  extra: Record<string, SafetensorsTensor>;
}

/** Metadata key recording the optimizer type of the `optimizer.*` tensors. */
export const OPTIMIZER_METADATA_KEY = 'ssmis.optimizer';
const OPTIMIZER_PREFIX = 'optimizer.';

function variablesOf(source: WeightSource): Map<string, tf.Variable> {
  return source instanceof Map ? source : source.namedWeights();
}

function checkPrefix(prefix: string): void {
  if (prefix === '' || prefix.includes('.') || prefix === 'optimizer') {
    throw new InputError(
      `checkpoint: model prefix '${prefix}' must be non-empty, without '.', and not 'optimizer'`,
    );
  }
}

/** The tensors and metadata `saveWeights` writes (exposed for in-memory use and tests). */
export function weightsToSafetensors(options: SaveWeightsOptions): {
  tensors: Record<string, SafetensorsTensor>;
  metadata: Record<string, string>;
} {
  requireObject('weightsToSafetensors', 'options', options);
  requireObject(
    'weightsToSafetensors',
    'options.models',
    options.models,
    'a record of prefix → model, e.g. { student }',
  );
  const tensors: Record<string, SafetensorsTensor> = {};
  const metadata: Record<string, string> = { ...(options.metadata ?? {}) };
  const prefixes = Object.keys(options.models);
  for (const [prefix, source] of Object.entries(options.models)) {
    checkPrefix(prefix);
    for (const [key, v] of variablesOf(source)) {
      if (v.dtype !== 'float32')
        throw new InputError(`checkpoint: ${prefix}.${key} is ${v.dtype}, expected float32`);
      tensors[`${prefix}.${key}`] = {
        dtype: 'F32',
        shape: [...v.shape],
        data: Float32Array.from(v.dataSync() as Float32Array),
      };
    }
  }
  if (options.optimizer !== undefined) {
    const state = 'getState' in options.optimizer ? options.optimizer.getState() : options.optimizer;
    metadata[OPTIMIZER_METADATA_KEY] = state.type;
    for (const [name, t] of Object.entries(state.tensors)) {
      if (!name.startsWith(OPTIMIZER_PREFIX)) {
        throw new InputError(`checkpoint: optimizer tensor ${name} lacks the '${OPTIMIZER_PREFIX}' prefix`);
      }
      tensors[name] = t;
    }
  }
  for (const [name, t] of Object.entries(options.extra ?? {})) {
    if (
      name in tensors ||
      name.startsWith(OPTIMIZER_PREFIX) ||
      prefixes.some((p) => name.startsWith(`${p}.`))
    ) {
      throw new InputError(`checkpoint: extra tensor ${name} collides with a model or optimizer tensor name`);
    }
    tensors[name] = t;
  }
  return { tensors, metadata };
}

/**
 * {@link weightsToSafetensors} for every backend: the values are read with `await data()` first, so that its
 * synchronous reads also work on `webgpu` (which has no synchronous read in Node); the same result elsewhere.
 */
export async function weightsToSafetensorsAsync(options: SaveWeightsOptions): Promise<{
  tensors: Record<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}> {
  requireObject('weightsToSafetensors', 'options', options);
  if (!syncReadable() && typeof options.models === 'object' && options.models !== null) {
    await prefetchHostValues(Object.values(options.models).flatMap((m) => [...variablesOf(m).values()]));
  }
  const optimizer =
    options.optimizer !== undefined && 'getState' in options.optimizer && options.optimizer.getStateAsync
      ? await options.optimizer.getStateAsync()
      : options.optimizer;
  return weightsToSafetensors({ ...options, optimizer });
}

/**
 * Writes models, optimizer slots and extra tensors to one safetensors file, atomically (temp file + rename): the
 * tensors are named `<prefix>.<state-dict key>` after the reference's PyTorch keys, optimizer slots
 * `optimizer.<key>.<slot>`. This is the file `train` writes as `checkpoints/best.safetensors` and
 * `last.safetensors`, and what {@link loadWeights} reads.
 *
 * @param path - the file to write (replaced atomically if it exists).
 * @param options - `models`: prefix → model (e.g. `{ student, teacher }`); optional `optimizer` (or its state),
 *   `extra` tensors and string `metadata`.
 * @returns nothing; the file is complete once the promise resolves.
 * @throws {@link InputError} when `path` is not a non-empty string, `options.models` is not a record of models,
 *   or an extra tensor's name collides with a model or optimizer tensor.
 * @example
 * await saveWeights('runs/mine/student.safetensors', { models: { student: net }, metadata: { note: 'epoch 3' } });
 */
export async function saveWeights(path: string, options: SaveWeightsOptions): Promise<void> {
  requireString('saveWeights', 'path', path);
  requireObject('saveWeights', 'options', options);
  requireObject(
    'saveWeights',
    'options.models',
    options.models,
    'a record of prefix → model, e.g. { student }',
  );
  const { tensors, metadata } = await weightsToSafetensorsAsync(options);
  await writeSafetensors(path, tensors, metadata);
}

/**
 * Fills existing variables from a decoded file. Everything is validated before the first assignment, so a
 * bad file leaves the models untouched: a model key absent from the file, a `<prefix>.` tensor the model does
 * not have, a shape or dtype mismatch → `InputError` naming the key and the file.
 */
export function assignWeights(
  file: SafetensorsFile,
  fileName: string,
  options: LoadWeightsOptions,
): LoadedWeights {
  requireObject('assignWeights', 'file', file, 'a safetensors file (readSafetensors)');
  requireObject('assignWeights', 'file.tensors', file.tensors);
  requireString('assignWeights', 'fileName', fileName);
  requireObject('assignWeights', 'options', options);
  requireObject(
    'assignWeights',
    'options.models',
    options.models,
    'a record of prefix → model, e.g. { student }',
  );
  const assignments: [tf.Variable, SafetensorsTensor][] = [];
  const claimed = new Set<string>();
  for (const [prefix, source] of Object.entries(options.models)) {
    checkPrefix(prefix);
    const vars = variablesOf(source);
    for (const [key, v] of vars) {
      const name = `${prefix}.${key}`;
      const t = Object.hasOwn(file.tensors, name) ? file.tensors[name] : undefined;
      if (t === undefined) throw new InputError(`${fileName}: checkpoint has no tensor ${name}`);
      if (t.dtype !== 'F32') throw new InputError(`${fileName}: tensor ${name} is ${t.dtype}, expected F32`);
      if (!tf.util.arraysEqual(t.shape, v.shape)) {
        throw new InputError(
          `${fileName}: tensor ${name} has shape [${t.shape}], the model expects [${v.shape}]`,
        );
      }
      assignments.push([v, t]);
      claimed.add(name);
    }
    for (const name of Object.keys(file.tensors)) {
      if (name.startsWith(`${prefix}.`) && !claimed.has(name)) {
        throw new InputError(`${fileName}: tensor ${name} matches no weight of model '${prefix}'`);
      }
    }
  }
  const extra: Record<string, SafetensorsTensor> = {};
  const optimizerTensors: Record<string, SafetensorsTensor> = {};
  for (const [name, t] of Object.entries(file.tensors)) {
    if (claimed.has(name)) continue;
    if (name.startsWith(OPTIMIZER_PREFIX)) optimizerTensors[name] = t;
    else extra[name] = t;
  }
  let optimizerState: OptimizerState | undefined;
  if (Object.keys(optimizerTensors).length > 0 || file.metadata[OPTIMIZER_METADATA_KEY] !== undefined) {
    const type = file.metadata[OPTIMIZER_METADATA_KEY];
    if (type !== 'sgd' && type !== 'adam') {
      throw new InputError(
        `${fileName}: optimizer tensors need metadata ${OPTIMIZER_METADATA_KEY} = sgd|adam, found ${String(type)}`,
      );
    }
    optimizerState = { type, tensors: optimizerTensors };
  }
  if (options.optimizer !== undefined) {
    if (optimizerState === undefined) throw new InputError(`${fileName}: checkpoint has no optimizer state`);
    try {
      // Validates keys and shapes before touching the optimizer.
      options.optimizer.setState(optimizerState, options.optimizerVars);
    } catch (error) {
      if (error instanceof InputError)
        throw new InputError(`${fileName}: ${error.message}`, { cause: error });
      throw error;
    }
  }
  tf.tidy(() => {
    for (const [v, t] of assignments) v.assign(tf.tensor(t.data as Float32Array, t.shape, 'float32'));
  });
  return { metadata: file.metadata, optimizerState, extra };
}

/**
 * Reads a checkpoint written by {@link saveWeights} (or by `train`) into existing models, and optionally an
 * optimizer. Everything is checked before the first assignment, so a file that does not fit leaves the models
 * untouched.
 *
 * @param path - the safetensors file to read.
 * @param options - `models`: prefix → model to fill (e.g. `{ student: net }` for a trained run's network; the
 *   model must have the architecture of the file's `<prefix>.*` tensors); optional `optimizer` and
 *   `optimizerVars` to restore the optimizer slots.
 * @returns the file's metadata, its optimizer state if it has one, and the tensors that belong to no model.
 * @throws {@link InputError} when an argument is missing or of the wrong kind, the file cannot be read or is not
 *   a valid safetensors file, or a model key is absent from the file, a `<prefix>.` tensor is unknown to the
 *   model, or a shape or dtype differs (naming the key and the file).
 * @example
 * const { config } = await loadConfig('runs/la-5pct/config.yaml');
 * const net = createModel(config, { name: 'eval', rng: new Rng(0) });
 * await loadWeights('runs/la-5pct/checkpoints/best.safetensors', { models: { student: net } });
 */
export async function loadWeights(path: string, options: LoadWeightsOptions): Promise<LoadedWeights> {
  requireString('loadWeights', 'path', path);
  requireObject('loadWeights', 'options', options);
  requireObject(
    'loadWeights',
    'options.models',
    options.models,
    'a record of prefix → model, e.g. { student }',
  );
  return assignWeights(await readSafetensors(path), path, options);
}

const TO_TORCH: Record<number, number[]> = { 5: [4, 3, 0, 1, 2], 4: [3, 2, 0, 1] };
const FROM_TORCH: Record<number, number[]> = { 5: [2, 3, 4, 1, 0], 4: [2, 3, 1, 0] };

function permute(t: SafetensorsTensor, perm: number[] | undefined): SafetensorsTensor {
  if (perm === undefined) return { dtype: t.dtype, shape: [...t.shape], data: t.data.slice() };
  const rank = t.shape.length;
  const outShape = perm.map((p) => t.shape[p]);
  const inStrides = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) inStrides[i] = inStrides[i + 1] * t.shape[i + 1];
  const strideOfOut = perm.map((p) => inStrides[p]);
  const out = t.data.slice();
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let a = 0; a < rank; a++) src += idx[a] * strideOfOut[a];
    out[o] = t.data[src];
    for (let a = rank - 1; a >= 0; a--) {
      if (++idx[a] < outShape[a]) break;
      idx[a] = 0;
    }
  }
  return { dtype: t.dtype, shape: outShape, data: out };
}

/**
 * TF.js kernel layout → PyTorch (`permute(4, 3, 0, 1, 2)` for 3-D, `(3, 2, 0, 1)` for 2-D; others copied), so
 * a weight can be written for, or compared with, the PyTorch reference code.
 *
 * @param t A tensor `{ dtype, shape, data }` in TF.js layout (a rank-5 or rank-4 conv kernel is permuted; any
 *   other rank, e.g. a bias or BN vector, is copied unchanged).
 * @returns A new tensor in PyTorch layout (the data is copied; `t` is not changed).
 * @throws InputError when `t` is not an object or `t.shape` is not a list of non-negative integers.
 * @example
 * import { toPyTorchLayout } from 'ssmis';
 *
 * const kernel = { dtype: 'F32' as const, shape: [3, 3, 3, 1, 16], data: new Float32Array(432) };
 * console.log(toPyTorchLayout(kernel).shape); // [16, 1, 3, 3, 3]
 */
export function toPyTorchLayout(t: SafetensorsTensor): SafetensorsTensor {
  requireObject('toPyTorchLayout', 't', t, 'a safetensors tensor { dtype, shape, data }');
  requireNumberArray('toPyTorchLayout', 't.shape', t.shape, { integer: true, min: 0 });
  return permute(t, TO_TORCH[t.shape.length]);
}

/**
 * PyTorch kernel layout → TF.js (inverse of {@link toPyTorchLayout}), e.g. to load weights exported from the
 * PyTorch reference code.
 *
 * @param t A tensor `{ dtype, shape, data }` in PyTorch layout (a rank-5 or rank-4 conv kernel is permuted; any
 *   other rank is copied unchanged).
 * @returns A new tensor in TF.js layout (the data is copied; `t` is not changed).
 * @throws InputError when `t` is not an object or `t.shape` is not a list of non-negative integers.
 * @example
 * import { fromPyTorchLayout } from 'ssmis';
 *
 * const kernel = { dtype: 'F32' as const, shape: [16, 1, 3, 3, 3], data: new Float32Array(432) };
 * console.log(fromPyTorchLayout(kernel).shape); // [3, 3, 3, 1, 16]
 */
export function fromPyTorchLayout(t: SafetensorsTensor): SafetensorsTensor {
  requireObject('fromPyTorchLayout', 't', t, 'a safetensors tensor { dtype, shape, data }');
  requireNumberArray('fromPyTorchLayout', 't.shape', t.shape, { integer: true, min: 0 });
  return permute(t, FROM_TORCH[t.shape.length]);
}
