/**
 * SGD and Adam with PyTorch semantics, written on `tf.variableGrads` (docs/equations.md §3.1). TF.js's momentum
 * optimizer gives the same buffer recursion for dampening 0 (its zero-initialised accumulator makes the first
 * buffer equal the gradient), but it has no weight decay, indexes its accumulators by position in the gradient
 * list (a parameter without gradient shifts them) and names its state after engine variables; hence our own.
 *
 * State is keyed by the parameter's state-dict key, not the engine variable name, so it maps onto a
 * checkpoint's `optimizer.<key>.<slot>` tensors and survives a renamed instance. Slot names
 * are PyTorch's: `momentum_buffer` (SGD), `exp_avg`, `exp_avg_sq`, `step` (Adam, per parameter).
 *
 * Parameters that get no gradient in a step are skipped entirely, weight decay included (as PyTorch skips
 * `p.grad is None`; the reference's unused heads).
 */
import { hostFloat32, hostUpdateTarget, ownedFloat32, transientHostValues } from '../backend/host.js';
import { prefetchHostValues } from '../backend/host-read.js';
import { sgdMomentumStep } from '../backend/kernels/host-update.js';
import { tf } from '../backend/tf.js';
import type { SafetensorsTensor } from '../io/safetensors.js';
import type { CheckpointOptimizer, OptimizerState } from '../nn/checkpoint.js';
import { objectArgument, requireFunction, requireMap, requireObject } from '../util/args.js';
import { InputError, SsmisError } from '../util/errors.js';

export interface SgdConfig {
  name: 'sgd';
  lr: number;
  momentum?: number;
  weightDecay?: number;
  /** Reference: 0 (momentum buffer = momentum·buf + (1−dampening)·g). */
  dampening?: number;
  nesterov?: boolean;
}

export interface AdamConfig {
  name: 'adam';
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** L2 penalty added to the gradient (PyTorch `Adam`, not AdamW). */
  weightDecay?: number;
}

/** An optimizer spec, keyed by `name` as the config's `train.stages.<stage>.optimizer` (which is one as it is). */
export type OptimizerConfig = SgdConfig | AdamConfig;

/** The spec under its former key `type` (`{ type: 'sgd', lr }`), still read by {@link createOptimizer}. */
export type LegacyOptimizerConfig =
  | (Omit<SgdConfig, 'name'> & { type: 'sgd' })
  | (Omit<AdamConfig, 'name'> & { type: 'adam' });

export interface Optimizer extends CheckpointOptimizer {
  readonly type: 'sgd' | 'adam';
  /** Learning rate of the next step (schedules set it before each step). */
  learningRate: number;
  /**
   * One step: gradients of `lossFn` with respect to `vars` (state-dict key → variable), update, dispose.
   * Returns the loss value. Everything `lossFn` creates is freed; variables it assigns (BN statistics) keep
   * their new values.
   */
  step(lossFn: () => tf.Scalar, vars: Map<string, tf.Variable>): number;
  /**
   * {@link Optimizer.step} with the loss value read by `await data()`: the form every backend runs, the `webgpu`
   * one included (it has no synchronous read); the same update and the same number as `step`.
   */
  stepAsync(lossFn: () => tf.Scalar, vars: Map<string, tf.Variable>): Promise<number>;
  /** Updates `vars` from gradients the caller computed (keys as in `vars`); the caller disposes `grads`. */
  applyGradients(grads: Map<string, tf.Tensor>, vars: Map<string, tf.Variable>): void;
  getState(): OptimizerState;
  /** {@link Optimizer.getState} read with `await data()`, for backends without synchronous reads (`webgpu`). */
  getStateAsync(): Promise<OptimizerState>;
  /** Replaces the state; with `vars`, each slot's key and shape are checked against the parameters. */
  setState(state: OptimizerState, vars?: Map<string, tf.Variable>): void;
  /** Frees the slot tensors. */
  dispose(): void;
}

const PREFIX = 'optimizer.';

function positive(name: string, value: number, allowZero = true): void {
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new InputError(
      `optimizer: ${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, found ${value}`,
    );
  }
}

/** Slot storage shared by both optimizers: one non-trainable variable per (parameter, slot). */
abstract class SlotOptimizer implements Optimizer {
  abstract readonly type: 'sgd' | 'adam';
  learningRate: number;
  protected readonly slots = new Map<string, tf.Variable>();
  protected readonly counters = new Map<string, number>();

  constructor(lr: number) {
    positive('lr', lr);
    this.learningRate = lr;
  }

  protected abstract slotNames(): string[];
  protected abstract update(key: string, param: tf.Variable, grad: tf.Tensor): void;
  protected abstract hasCounter(): boolean;

  protected slot(key: string, slot: string): tf.Variable | undefined {
    return this.slots.get(`${key}.${slot}`);
  }

  /** Stores a slot value; the caller's tensor may be disposed afterwards (the variable owns its data). */
  protected setSlot(key: string, slot: string, value: tf.Tensor): void {
    const id = `${key}.${slot}`;
    const existing = this.slots.get(id);
    if (existing === undefined) this.slots.set(id, tf.variable(value, false));
    else existing.assign(value);
  }

  step(lossFn: () => tf.Scalar, vars: Map<string, tf.Variable>): number {
    const value = this.minimize(`${this.constructor.name}.step`, lossFn, vars);
    try {
      return value.dataSync()[0];
    } finally {
      value.dispose();
    }
  }

  async stepAsync(lossFn: () => tf.Scalar, vars: Map<string, tf.Variable>): Promise<number> {
    const value = this.minimize(`${this.constructor.name}.stepAsync`, lossFn, vars);
    try {
      return (await value.data())[0];
    } finally {
      value.dispose();
    }
  }

  /** The gradients and the update of a step; returns the loss tensor, which the caller reads and disposes. */
  private minimize(fn: string, lossFn: () => tf.Scalar, vars: Map<string, tf.Variable>): tf.Scalar {
    requireFunction(fn, 'lossFn', lossFn);
    requireMap(fn, 'vars', vars);
    const byEngineName = new Map<string, string>();
    for (const [key, v] of vars) {
      if (!v.trainable) throw new SsmisError(`optimizer: parameter ${key} (${v.name}) is not trainable`);
      byEngineName.set(v.name, key);
    }
    const { value, grads } = tf.variableGrads(lossFn, [...vars.values()]);
    try {
      const map = new Map<string, tf.Tensor>();
      for (const [engineName, g] of Object.entries(grads)) {
        const key = byEngineName.get(engineName);
        if (key !== undefined && g != null) map.set(key, g);
      }
      this.applyGradients(map, vars);
      return value;
    } catch (error) {
      tf.dispose(value);
      throw error;
    } finally {
      tf.dispose(Object.values(grads).filter((g): g is tf.Tensor => g != null));
    }
  }

  applyGradients(grads: Map<string, tf.Tensor>, vars: Map<string, tf.Variable>): void {
    requireMap(`${this.constructor.name}.applyGradients`, 'grads', grads);
    requireMap(`${this.constructor.name}.applyGradients`, 'vars', vars);
    tf.tidy(() => {
      for (const [key, grad] of grads) {
        const param = vars.get(key);
        if (param === undefined) throw new SsmisError(`optimizer: gradient for unknown parameter ${key}`);
        if (!tf.util.arraysEqual(grad.shape, param.shape)) {
          throw new SsmisError(
            `optimizer: gradient of ${key} has shape [${grad.shape}], parameter [${param.shape}]`,
          );
        }
        this.update(key, param, grad);
      }
    });
  }

  /** {@link Optimizer.getState} with the slots read by `await data()` (every backend, `webgpu` included). */
  async getStateAsync(): Promise<OptimizerState> {
    await prefetchHostValues(this.slots.values());
    return this.getState();
  }

  getState(): OptimizerState {
    const tensors: Record<string, SafetensorsTensor> = {};
    for (const [id, v] of this.slots) {
      tensors[`${PREFIX}${id}`] = {
        dtype: 'F32',
        shape: [...v.shape],
        data: Float32Array.from(v.dataSync() as Float32Array),
      };
    }
    for (const [key, n] of this.counters) {
      tensors[`${PREFIX}${key}.step`] = { dtype: 'I32', shape: [], data: Int32Array.of(n) };
    }
    return { type: this.type, tensors };
  }

  setState(state: OptimizerState, vars?: Map<string, tf.Variable>): void {
    requireObject(`${this.constructor.name}.setState`, 'state', state, 'an optimizer state (getState())');
    if (vars !== undefined) requireMap(`${this.constructor.name}.setState`, 'vars', vars);
    if (state.type !== this.type) {
      throw new InputError(`optimizer state: expected a ${this.type} state, found ${state.type}`);
    }
    const slotNames = this.slotNames();
    const slots = new Map<string, { shape: number[]; data: Float32Array }>();
    const counters = new Map<string, number>();
    for (const [name, t] of Object.entries(state.tensors)) {
      if (!name.startsWith(PREFIX))
        throw new InputError(`optimizer state: tensor ${name} lacks the '${PREFIX}' prefix`);
      const rest = name.slice(PREFIX.length);
      const dot = rest.lastIndexOf('.');
      const key = rest.slice(0, dot);
      const slot = rest.slice(dot + 1);
      if (
        dot <= 0 ||
        (slot !== 'step' && !slotNames.includes(slot)) ||
        (slot === 'step' && !this.hasCounter())
      ) {
        throw new InputError(
          `optimizer state: ${name} is not a ${this.type} slot (${[...slotNames, 'step']})`,
        );
      }
      const param = vars?.get(key);
      if (vars !== undefined && param === undefined) {
        throw new InputError(`optimizer state: ${name} refers to unknown parameter ${key}`);
      }
      if (slot === 'step') {
        if (t.dtype !== 'I32' || t.data.length !== 1 || t.data[0] < 1) {
          throw new InputError(
            `optimizer state: ${name} must be one positive int32, found ${t.dtype} [${t.shape}]`,
          );
        }
        counters.set(key, t.data[0]);
        continue;
      }
      if (t.dtype !== 'F32' || !(t.data instanceof Float32Array)) {
        throw new InputError(`optimizer state: ${name} must be F32, found ${t.dtype}`);
      }
      if (param !== undefined && !tf.util.arraysEqual(param.shape, t.shape)) {
        throw new InputError(
          `optimizer state: ${name} has shape [${t.shape}], parameter ${key} has [${param.shape}]`,
        );
      }
      slots.set(rest, { shape: t.shape, data: t.data });
    }
    this.dispose();
    // The variables own their data; the temporary tensors are freed by the tidy.
    tf.tidy(() => {
      for (const [id, s] of slots)
        this.slots.set(id, tf.variable(tf.tensor(s.data, s.shape, 'float32'), false));
    });
    for (const [key, n] of counters) this.counters.set(key, n);
  }

  dispose(): void {
    for (const v of this.slots.values()) v.dispose();
    this.slots.clear();
    this.counters.clear();
  }
}

/**
 * PyTorch SGD: g ← grad + wd·θ; buf ← g on a parameter's first step, else momentum·buf + (1−dampening)·g;
 * g ← g + momentum·buf (Nesterov) or buf; θ ← θ − lr·g. Momentum 0 keeps no buffer.
 */
export class SgdOptimizer extends SlotOptimizer {
  readonly type = 'sgd' as const;
  readonly momentum: number;
  readonly weightDecay: number;
  readonly dampening: number;
  readonly nesterov: boolean;

  constructor(config: Omit<SgdConfig, 'name'>) {
    super(objectArgument('SgdOptimizer', 'config', config).lr);
    this.momentum = config.momentum ?? 0;
    this.weightDecay = config.weightDecay ?? 0;
    this.dampening = config.dampening ?? 0;
    this.nesterov = config.nesterov ?? false;
    positive('momentum', this.momentum);
    positive('weightDecay', this.weightDecay);
    positive('dampening', this.dampening);
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new InputError('optimizer: Nesterov momentum requires momentum > 0 and dampening 0 (as PyTorch)');
    }
  }

  protected slotNames(): string[] {
    return ['momentum_buffer'];
  }

  protected hasCounter(): boolean {
    return false;
  }

  protected update(key: string, param: tf.Variable, grad: tf.Tensor): void {
    if (hostFloat32(param, grad)) {
      this.updateOnHost(key, param, grad);
      return;
    }
    let g = this.weightDecay !== 0 ? tf.add(grad, tf.mul(param, this.weightDecay)) : grad;
    if (this.momentum !== 0) {
      const prev = this.slot(key, 'momentum_buffer');
      const buf =
        prev === undefined
          ? g
          : tf.add(tf.mul(prev, this.momentum), this.dampening === 0 ? g : tf.mul(g, 1 - this.dampening));
      this.setSlot(key, 'momentum_buffer', buf);
      g = this.nesterov ? tf.add(g, tf.mul(buf, this.momentum)) : buf;
    }
    param.assign(tf.sub(param, tf.mul(g, this.learningRate)));
  }

  /**
   * The update above in one pass over the host values the cpu backend keeps, instead of five to seven tensor ops
   * and their temporaries per parameter (on a 9.4 M-weight VNet they were most of a step's non-convolution
   * time). Each intermediate is rounded to float32 as the tensor op would store it, with the scalars as float32
   * tensors hold them, so the result is bit-identical. From a parameter's second update on, the parameter and its
   * momentum buffer are overwritten in place (`hostUpdateTarget`: arrays this optimizer made, shared by no
   * other tensor), so a step allocates nothing for them.
   */
  private updateOnHost(key: string, param: tf.Variable, grad: tf.Tensor): void {
    const f = Math.fround;
    const p = param.dataSync() as Float32Array;
    const gr = transientHostValues(grad);
    const n = p.length;
    const wd = f(this.weightDecay);
    const decay = this.weightDecay !== 0;
    const m = f(this.momentum);
    const keep = f(1 - this.dampening);
    const damp = this.dampening !== 0;
    const nesterov = this.nesterov;
    const lr = f(this.learningRate);
    const withMomentum = this.momentum !== 0;
    const prevSlot = withMomentum ? this.slot(key, 'momentum_buffer') : undefined;
    const prev = prevSlot === undefined ? undefined : (prevSlot.dataSync() as Float32Array);
    // The first step makes the buffer (a new slot variable); later steps update it like the parameter.
    const bufTarget = prevSlot === undefined ? null : hostUpdateTarget(prevSlot);
    const buf = withMomentum ? (bufTarget?.values ?? ownedFloat32(n)) : null;
    const target = hostUpdateTarget(param);
    const out = target.values;
    // Every recipe's case (weight decay, momentum after the first step, no dampening, no Nesterov) runs on the fast
    // kernels' threads in WebAssembly with the same roundings; anything else, or without them, this loop.
    const common = decay && buf !== null && prev !== undefined && !damp && !nesterov;
    if (!(common && sgdMomentumStep({ param: p, grad: gr, prev, out, buf }, wd, m, lr))) {
      for (let i = 0; i < n; i++) {
        const pi = p[i];
        let g = decay ? f(gr[i] + f(pi * wd)) : gr[i];
        if (buf !== null) {
          const b = prev === undefined ? g : f(f(prev[i] * m) + (damp ? f(g * keep) : g));
          buf[i] = b;
          g = nesterov ? f(g + f(b * m)) : b;
        }
        out[i] = pi - f(g * lr);
      }
    }
    if (bufTarget !== null) bufTarget.commit();
    else if (buf !== null) this.setSlot(key, 'momentum_buffer', tf.tensor(buf, param.shape, 'float32'));
    target.commit();
  }
}

/**
 * PyTorch Adam (L2 weight decay added to the gradient, bias-corrected, eps outside the square root):
 * m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; θ ← θ − (lr/(1−β1^t))·m / (√v/√(1−β2^t) + eps),
 * with t the parameter's own step count.
 */
export class AdamOptimizer extends SlotOptimizer {
  readonly type = 'adam' as const;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;

  constructor(config: Omit<AdamConfig, 'name'>) {
    super(objectArgument('AdamOptimizer', 'config', config).lr);
    this.beta1 = config.beta1 ?? 0.9;
    this.beta2 = config.beta2 ?? 0.999;
    this.eps = config.eps ?? 1e-8;
    this.weightDecay = config.weightDecay ?? 0;
    for (const [n, b] of [
      ['beta1', this.beta1],
      ['beta2', this.beta2],
    ] as const) {
      if (!(b >= 0 && b < 1)) throw new InputError(`optimizer: ${n} must be in [0, 1), found ${b}`);
    }
    positive('eps', this.eps);
    positive('weightDecay', this.weightDecay);
  }

  protected slotNames(): string[] {
    return ['exp_avg', 'exp_avg_sq'];
  }

  protected hasCounter(): boolean {
    return true;
  }

  protected update(key: string, param: tf.Variable, grad: tf.Tensor): void {
    const g = this.weightDecay !== 0 ? tf.add(grad, tf.mul(param, this.weightDecay)) : grad;
    const t = (this.counters.get(key) ?? 0) + 1;
    this.counters.set(key, t);
    const m0 = this.slot(key, 'exp_avg');
    const v0 = this.slot(key, 'exp_avg_sq');
    const m = tf.add(m0 === undefined ? tf.zerosLike(g) : tf.mul(m0, this.beta1), tf.mul(g, 1 - this.beta1));
    const v = tf.add(
      v0 === undefined ? tf.zerosLike(g) : tf.mul(v0, this.beta2),
      tf.mul(tf.mul(g, g), 1 - this.beta2),
    );
    this.setSlot(key, 'exp_avg', m);
    this.setSlot(key, 'exp_avg_sq', v);
    const bc1 = 1 - this.beta1 ** t;
    const bc2 = 1 - this.beta2 ** t;
    const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(bc2)), this.eps);
    param.assign(tf.sub(param, tf.mul(tf.div(m, denom), this.learningRate / bc1)));
  }
}

/**
 * Creates the optimizer a spec names: SGD or Adam with PyTorch semantics.
 *
 * @param config `{ name: 'sgd' | 'adam', lr, ... }`, e.g. a config's `train.stages.<stage>.optimizer` as it is;
 *   the former key `type` is still read (`{ type: 'sgd', lr }`).
 * @returns a fresh optimizer without state (its slots appear on the first step or with `setState`).
 * @throws InputError when `config` is not an object, names no known optimizer, or holds an invalid setting
 *   (a negative `lr`, `momentum`, `weightDecay`, a `beta` outside [0, 1)).
 * @example
 * const optimizer = createOptimizer({ name: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
 * optimizer.step(() => loss(), model.namedParameters());
 */
export function createOptimizer(
  config: OptimizerConfig | LegacyOptimizerConfig,
): SgdOptimizer | AdamOptimizer {
  requireObject('createOptimizer', 'config', config, 'an optimizer config ({ name: sgd | adam, lr, ... })');
  // Specs written before the key was `name` (the config's key) said `type`.
  const name: unknown = 'name' in config ? config.name : (config as { type?: unknown }).type;
  switch (name) {
    case 'sgd':
      return new SgdOptimizer(config as Omit<SgdConfig, 'name'>);
    case 'adam':
      return new AdamOptimizer(config as Omit<AdamConfig, 'name'>);
    default:
      throw new InputError(`optimizer: unknown name ${String(name)} (sgd, adam)`);
  }
}
