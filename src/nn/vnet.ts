/**
 * Paper: Milletari, Navab, Ahmadi, "V-Net: Fully Convolutional Neural Networks for Volumetric Medical Image
 *   Segmentation" (3DV 2016).
 * The 3-D VNet of the reference (`networks/VNet.py`, docs/equations.md §1.2) as a functional network: conv counts
 * 1-2-3-3-3 (encoder) / 3-3-2-1 (decoder), k2 s2 valid down-convs, k2 s2 transposed up-convs, BN + ReLU after
 * every conv, additive skips after the up-block ReLU, Dropout3d(p) on the bottleneck x5 and on the last feature
 * map x9 (Q17), a 1×1×1 head producing logits. The unused heads (projection/prediction/selectors, Q16) and the
 * discarded aux output (max-pooled x5) are omitted: 9,448,866 parameters at 16 filters, 1 input, 2 classes.
 *
 * Kernels are channels last: conv `[kx, ky, kz, in, out]`, transposed conv `[kx, ky, kz, out, in]`; both map
 * to PyTorch's layout by the axis permutation (4, 3, 0, 1, 2) (see `checkpoint.ts`).
 */
import { tf } from '../backend/tf.js';
import { requireBoolean, requireNumber, requireOptions, requireRng, requireString } from '../util/args.js';
import { InputError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { batchNormRelu, channelDropout, conv3d, conv3dTranspose2, type ForwardContext } from './layers.js';
import { forwardContext, storeModelMembers } from './model.js';
import { bnSpecs, countParameters, type ParameterSpec, ParameterStore } from './params.js';
import type { ApplyOptions, CloneOptions, SegmentationModel } from './types.js';

export interface VNetOptions {
  inChannels?: number;
  numClasses?: number;
  baseFilters?: number;
  /** Dropout3d rate on x5 and x9 in train mode (reference: 0.5; 0 = `has_dropout=False`). */
  dropout?: number;
  /** Instance prefix of the engine variable names (`student`, `teacher`, …). */
  name?: string;
  /** Init seed (default 0), used when `rng` is not given. */
  seed?: number;
  /** Init random numbers; takes precedence over `seed`. */
  rng?: Rng;
  /** False for an EMA teacher: no optimizer may touch its parameters. */
  trainable?: boolean;
}

export interface ResolvedVNetOptions {
  inChannels: number;
  numClasses: number;
  baseFilters: number;
  dropout: number;
}

type Block = { key: string; kind: 'conv'; stages: number; cin: number; cout: number } | UpDownBlock;
type UpDownBlock = { key: string; kind: 'down' | 'up'; cin: number; cout: number };

function vnetBlocks(o: ResolvedVNetOptions): { encoder: Block[]; decoder: Block[] } {
  const f = o.baseFilters;
  const conv = (key: string, stages: number, cin: number, cout: number): Block => ({
    key,
    kind: 'conv',
    stages,
    cin,
    cout,
  });
  const dn = (key: string, cin: number, cout: number): Block => ({ key, kind: 'down', cin, cout });
  const up = (key: string, cin: number, cout: number): Block => ({ key, kind: 'up', cin, cout });
  return {
    encoder: [
      conv('block_one', 1, o.inChannels, f),
      dn('block_one_dw', f, 2 * f),
      conv('block_two', 2, 2 * f, 2 * f),
      dn('block_two_dw', 2 * f, 4 * f),
      conv('block_three', 3, 4 * f, 4 * f),
      dn('block_three_dw', 4 * f, 8 * f),
      conv('block_four', 3, 8 * f, 8 * f),
      dn('block_four_dw', 8 * f, 16 * f),
      conv('block_five', 3, 16 * f, 16 * f),
    ],
    decoder: [
      up('block_five_up', 16 * f, 8 * f),
      conv('block_six', 3, 8 * f, 8 * f),
      up('block_six_up', 8 * f, 4 * f),
      conv('block_seven', 3, 4 * f, 4 * f),
      up('block_seven_up', 4 * f, 2 * f),
      conv('block_eight', 2, 2 * f, 2 * f),
      up('block_eight_up', 2 * f, f),
      conv('block_nine', 1, f, f),
    ],
  };
}

function resolve(options: VNetOptions): ResolvedVNetOptions {
  const o = {
    inChannels: options.inChannels ?? 1,
    numClasses: options.numClasses ?? 2,
    baseFilters: options.baseFilters ?? 16,
    dropout: options.dropout ?? 0.5,
  };
  for (const k of ['inChannels', 'numClasses', 'baseFilters'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 1)
      throw new InputError(`createVNet: ${k} must be a positive integer, found ${o[k]}`);
  }
  if (!(o.dropout >= 0 && o.dropout < 1))
    throw new InputError(`createVNet: dropout must be in [0, 1), found ${o.dropout}`);
  return o;
}

/**
 * The state dict of the VNet in PyTorch order (encoder then decoder; in each `conv` Sequential conv = 0, bn = 1,
 * relu = 2, conv = 3, …). fan_in = in·k³ for Conv3d and out·k³ for ConvTranspose3d (PyTorch reads it from
 * weight axis 1 of `[in, out, k, k, k]`).
 */
export function vnetParameterSpecs(options: VNetOptions = {}): ParameterSpec[] {
  const o = resolve(options);
  const { encoder, decoder } = vnetBlocks(o);
  const specs: ParameterSpec[] = [];
  const emit = (prefix: string, b: Block): void => {
    const base = `${prefix}.${b.key}.conv`;
    if (b.kind === 'conv') {
      for (let s = 0; s < b.stages; s++) {
        const cin = s === 0 ? b.cin : b.cout;
        const fanIn = cin * 27;
        specs.push({ key: `${base}.${3 * s}.weight`, shape: [3, 3, 3, cin, b.cout], role: 'weight', fanIn });
        specs.push({ key: `${base}.${3 * s}.bias`, shape: [b.cout], role: 'bias', fanIn });
        specs.push(...bnSpecs(`${base}.${3 * s + 1}`, b.cout));
      }
    } else {
      const shape = b.kind === 'down' ? [2, 2, 2, b.cin, b.cout] : [2, 2, 2, b.cout, b.cin];
      const fanIn = (b.kind === 'down' ? b.cin : b.cout) * 8;
      specs.push({ key: `${base}.0.weight`, shape, role: 'weight', fanIn });
      specs.push({ key: `${base}.0.bias`, shape: [b.cout], role: 'bias', fanIn });
      specs.push(...bnSpecs(`${base}.1`, b.cout));
    }
  };
  for (const b of encoder) emit('encoder', b);
  for (const b of decoder) emit('decoder', b);
  const f = o.baseFilters;
  specs.push({ key: 'decoder.out_conv.weight', shape: [1, 1, 1, f, o.numClasses], role: 'weight', fanIn: f });
  specs.push({ key: 'decoder.out_conv.bias', shape: [o.numClasses], role: 'bias', fanIn: f });
  return specs;
}

/**
 * Trainable parameter count from the specs alone (no tensors): 9,448,866 at the defaults.
 *
 * @param options The {@link createVNet} options that shape the network: `inChannels` (default 1), `numClasses`
 *   (default 2), `baseFilters` (default 16); the others do not change the count.
 * @returns The number of trainable parameters (weights and biases of every conv, BN scale and shift).
 * @throws InputError when `options` is not an object, `inChannels`, `numClasses` or `baseFilters` is not a
 *   positive integer, or `dropout` is outside [0, 1).
 * @example
 * import { vnetParameterCount } from 'ssmis';
 *
 * console.log(vnetParameterCount()); // 9448866
 * console.log(vnetParameterCount({ baseFilters: 8, numClasses: 3 }));
 */
export function vnetParameterCount(options: VNetOptions = {}): number {
  requireOptions('vnetParameterCount', 'options', options);
  return countParameters(vnetParameterSpecs(options));
}

export interface VNetModel extends SegmentationModel {
  readonly kind: 'vnet';
  readonly options: ResolvedVNetOptions;
  /** Engine variable-name prefix actually used. */
  readonly name: string;
  clone(options?: CloneOptions): VNetModel;
}

function runBlock(
  x: tf.Tensor5D,
  b: Block,
  prefix: string,
  store: ParameterStore,
  ctx: ForwardContext,
): tf.Tensor5D {
  const base = `${prefix}.${b.key}.conv`;
  if (b.kind === 'conv') {
    let h = x;
    for (let s = 0; s < b.stages; s++) {
      h = batchNormRelu(conv3d(h, store, `${base}.${3 * s}`, 1, 'same'), store, `${base}.${3 * s + 1}`, ctx);
    }
    return h;
  }
  const y =
    b.kind === 'down' ? conv3d(x, store, `${base}.0`, 2, 'valid') : conv3dTranspose2(x, store, `${base}.0`);
  return batchNormRelu(y, store, `${base}.1`, ctx);
}

function buildVNet(o: ResolvedVNetOptions, name: string, store: ParameterStore, seed: number): VNetModel {
  const { encoder, decoder } = vnetBlocks(o);
  const fallbackRng = Rng.stream(seed, `${store.prefix}/dropout`);
  const apply = (x: tf.Tensor, options: ApplyOptions): tf.Tensor => {
    const ctx = forwardContext('VNet', 'vnet', store, x, ['X', 'Y', 'Z'], o.inChannels, options, fallbackRng);
    // Encoder: x1..x5 are the outputs of the conv blocks (index 0, 2, 4, 6, 8).
    const skips: tf.Tensor5D[] = [];
    let h = x as tf.Tensor5D;
    encoder.forEach((b, i) => {
      h = runBlock(h, b, 'encoder', store, ctx);
      if (i % 2 === 0) skips.push(h);
    });
    // The dropped-out x5 is what the decoder sees (V10).
    h = channelDropout(h, o.dropout, ctx);
    // Decoder: up blocks (even index) are followed by the skip addition, after their ReLU (V11–V17).
    decoder.forEach((b, i) => {
      h = runBlock(h, b, 'decoder', store, ctx);
      if (i % 2 === 0) h = tf.add(h, skips[3 - i / 2]);
    });
    h = channelDropout(h, o.dropout, ctx);
    return conv3d(h, store, 'decoder.out_conv', 1, 'valid');
  };
  const model: VNetModel = {
    kind: 'vnet',
    spatialDims: 3,
    inChannels: o.inChannels,
    numClasses: o.numClasses,
    options: o,
    name: store.prefix,
    apply,
    ...storeModelMembers(store, name, seed, (cloneName, copy) => buildVNet(o, cloneName, copy, seed)),
  };
  return model;
}

/**
 * Creates the 3-D VNet of the reference code (the network of the LA, BraTS2019 and Pancreas-NIH configs) with
 * PyTorch-default initialisation drawn from `rng` (or `Rng(seed)`, seed default 0), so the same seed gives the
 * same weights. Dropout masks come from `apply`'s `rng`; without one a model-owned stream
 * (`Rng.stream(seed, '<prefix>/dropout')`) is used, which a training loop that must resume bit for bit should
 * not rely on (its state is not checkpointed).
 *
 * @param options - `inChannels` (default 1), `numClasses` (default 2), `baseFilters` (default 16), `dropout`
 *   (default 0.5; 0 turns it off), `name` (the engine-variable prefix, default `'vnet'`), `seed`, `rng`,
 *   `trainable` (false for an EMA teacher).
 * @returns the model: `apply(x, { training })` maps `[N, X, Y, Z, C]` (each spatial size a multiple of 16) to
 *   logits `[N, X, Y, Z, numClasses]`; `dispose()` frees its variables.
 * @throws {@link InputError} when `options` is not an object, an option has the wrong type, `inChannels`,
 *   `numClasses` or `baseFilters` is not a positive integer, or `dropout` is outside [0, 1).
 * @example
 * const net = createVNet({ inChannels: 1, numClasses: 2, baseFilters: 16, seed: 1 });
 * const logits = tf.tidy(() => net.apply(tf.zeros([1, 16, 16, 16, 1]), { training: false }));
 * net.dispose();
 */
export function createVNet(options: VNetOptions = {}): VNetModel {
  requireOptions('createVNet', 'options', options);
  if (options.name !== undefined) requireString('createVNet', 'options.name', options.name);
  if (options.seed !== undefined) requireNumber('createVNet', 'options.seed', options.seed);
  if (options.rng !== undefined) requireRng('createVNet', 'options.rng', options.rng);
  if (options.trainable !== undefined) requireBoolean('createVNet', 'options.trainable', options.trainable);
  if (options.dropout !== undefined)
    requireNumber('createVNet', 'options.dropout', options.dropout, { min: 0 });
  const o = resolve(options);
  const name = options.name ?? 'vnet';
  const seed = options.seed ?? 0;
  const rng = options.rng ?? new Rng(seed);
  const store = new ParameterStore(name, vnetParameterSpecs(o), rng, {
    trainable: options.trainable ?? true,
  });
  return buildVNet(o, name, store, seed);
}
