/**
 * Parameter store of the functional networks (plain functions over variables, not tf.layers): named `tf.variable`s
 * under the reference's PyTorch state-dict keys, plus the rules that create them (shapes and PyTorch-default
 * initialisation).
 *
 * Engine variable names are global, so every store prefixes its keys with an instance name
 * (`student/encoder.block_one.conv.0.weight`); a taken instance name gets a `_1`, `_2`, … suffix. Optimizer
 * state and checkpoints are keyed by the state-dict key, never by the engine name, so the suffix never
 * reaches a file.
 */
import { tf } from '../backend/tf.js';
import { SsmisError } from '../util/errors.js';
import type { Rng } from '../util/rng.js';

export type ParameterRole = 'weight' | 'bias' | 'bn_weight' | 'bn_bias' | 'running_mean' | 'running_var';

/** One entry of a network's state dict, before any tensor exists. */
export interface ParameterSpec {
  key: string;
  shape: number[];
  role: ParameterRole;
  /** For conv weights and biases: PyTorch's fan_in, the init bound is 1/√fan_in (docs/equations.md §1.2). */
  fanIn?: number;
}

export function isBufferRole(role: ParameterRole): boolean {
  return role === 'running_mean' || role === 'running_var';
}

export function specSize(spec: ParameterSpec): number {
  return spec.shape.reduce((a, b) => a * b, 1);
}

/** Trainable parameter count from the specs alone (no tensor is allocated). */
export function countParameters(specs: readonly ParameterSpec[]): number {
  let n = 0;
  for (const s of specs) if (!isBufferRole(s.role)) n += specSize(s);
  return n;
}

/** The four state-dict entries of a BatchNorm layer (γ, β, running mean, running var) with `c` channels. */
export function bnSpecs(key: string, c: number): ParameterSpec[] {
  return [
    { key: `${key}.weight`, shape: [c], role: 'bn_weight' },
    { key: `${key}.bias`, shape: [c], role: 'bn_bias' },
    { key: `${key}.running_mean`, shape: [c], role: 'running_mean' },
    { key: `${key}.running_var`, shape: [c], role: 'running_var' },
  ];
}

/**
 * Initial values with PyTorch's default distributions: conv/deconv weights and biases U(−1/√fan_in, 1/√fan_in)
 * (kaiming_uniform with a=√5 reduces to this), BN γ=1, β=0, running mean 0, running var 1. One uint32 per
 * value (float32 needs no more randomness), drawn in spec order so a seed fixes every weight.
 */
export function initialValue(spec: ParameterSpec, rng: Rng): Float32Array {
  const n = specSize(spec);
  const out = new Float32Array(n);
  switch (spec.role) {
    case 'weight':
    case 'bias': {
      if (spec.fanIn === undefined || spec.fanIn <= 0) {
        throw new SsmisError(`parameter ${spec.key}: missing fan_in for its initialisation`);
      }
      const bound = 1 / Math.sqrt(spec.fanIn);
      for (let i = 0; i < n; i++) out[i] = -bound + 2 * bound * (rng.nextUint32() / 4294967296);
      return out;
    }
    case 'bn_weight':
    case 'running_var':
      return out.fill(1);
    case 'bn_bias':
    case 'running_mean':
      return out;
  }
}

/** Makes `name` unique among the engine's registered variables (`name`, `name_1`, …). */
function uniquePrefix(name: string): string {
  const registered = tf.engine().registeredVariables;
  const taken = (prefix: string): boolean => Object.keys(registered).some((v) => v.startsWith(`${prefix}/`));
  if (!taken(name)) return name;
  for (let i = 1; ; i++) if (!taken(`${name}_${i}`)) return `${name}_${i}`;
}

/** The variables of one network instance, in state-dict order. */
export class ParameterStore {
  /** Instance prefix of the engine variable names (may carry a uniqueness suffix). */
  readonly prefix: string;
  readonly specs: readonly ParameterSpec[];
  private readonly variables = new Map<string, tf.Variable>();
  private disposed = false;

  /**
   * `values` (optional) gives initial data per key (for clones); the rest is drawn from `rng`.
   * Buffers are always non-trainable; parameters are trainable unless `trainable` is false (EMA teacher).
   */
  constructor(
    name: string,
    specs: readonly ParameterSpec[],
    rng: Rng,
    options: { trainable?: boolean; values?: Map<string, Float32Array | tf.Tensor> } = {},
  ) {
    this.prefix = uniquePrefix(name);
    this.specs = specs;
    const trainable = options.trainable ?? true;
    try {
      for (const spec of specs) {
        const given = options.values?.get(spec.key);
        const data = given ?? initialValue(spec, rng);
        const isBuffer = isBufferRole(spec.role);
        const v = tf.tidy(() =>
          tf.variable(
            // A tensor given (a clone's source variable) is copied on the device, without a host read.
            data instanceof Float32Array ? tf.tensor(data, spec.shape, 'float32') : tf.clone(data),
            trainable && !isBuffer,
            `${this.prefix}/${spec.key}`,
          ),
        );
        this.variables.set(spec.key, v);
      }
    } catch (error) {
      this.dispose();
      throw error;
    }
  }

  get(key: string): tf.Variable {
    const v = this.variables.get(key);
    if (v === undefined) throw new SsmisError(`${this.prefix}: no parameter named ${key}`);
    return v;
  }

  /** Every variable (parameters and BN buffers) by state-dict key. */
  named(): Map<string, tf.Variable> {
    return new Map(this.variables);
  }

  /** Learnable parameters by key (whatever their `trainable` flag: a teacher's are frozen but still parameters). */
  namedParameters(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const s of this.specs) if (!isBufferRole(s.role)) out.set(s.key, this.get(s.key));
    return out;
  }

  /** Batch-norm running statistics by key. */
  namedBuffers(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const s of this.specs) if (isBufferRole(s.role)) out.set(s.key, this.get(s.key));
    return out;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const v of this.variables.values()) v.dispose();
    this.variables.clear();
  }
}
