/**
 * Paper: Ronneberger, Fischer, Brox, "U-Net: Convolutional Networks for Biomedical Image Segmentation"
 *   (MICCAI 2015).
 * The 2-D U-Net of BCP's ACDC setting (`networks/unet.py`, `UNet_2d`, docs/equations.md §1.4) as a functional
 * network: feature channels 16..256; ConvBlock = conv3×3 → BN → LeakyReLU(0.01) → Dropout(p, element-wise)
 * → conv3×3 → BN → LeakyReLU(0.01); encoder dropout 0.05/0.1/0.2/0.3/0.5; MaxPool 2; UpBlock = 1×1 conv →
 * bilinear ×2 (align_corners=True) → concat [skip, up] → ConvBlock(p = 0); out conv k3 pad 1 → logits.
 * The unused heads (Q16) are omitted: 1,813,764 parameters for 1 → 4.
 *
 * Kernels are `[kh, kw, in, out]`; PyTorch's `[out, in, kh, kw]` is the permutation (3, 2, 0, 1).
 */
import { tf } from '../backend/tf.js';
import { requireBoolean, requireNumber, requireOptions, requireRng, requireString } from '../util/args.js';
import { InputError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import {
  batchNormLeakyRelu,
  conv2d,
  elementDropout,
  type ForwardContext,
  upsampleBilinear2x,
} from './layers.js';
import { forwardContext, storeModelMembers } from './model.js';
import { bnSpecs, countParameters, type ParameterSpec, ParameterStore } from './params.js';
import type { ApplyOptions, CloneOptions, SegmentationModel } from './types.js';

export interface UNet2dOptions {
  inChannels?: number;
  numClasses?: number;
  /** Channels of the five levels (reference: [16, 32, 64, 128, 256]); takes precedence over `baseFilters`. */
  featureChannels?: number[];
  /** F → levels F·[1, 2, 4, 8, 16] (reference F = 16). */
  baseFilters?: number;
  /** Element-wise dropout rate inside each encoder ConvBlock (reference: [0.05, 0.1, 0.2, 0.3, 0.5]). */
  dropout?: number[];
  /** Instance prefix of the engine variable names. */
  name?: string;
  seed?: number;
  rng?: Rng;
  trainable?: boolean;
}

export interface ResolvedUNet2dOptions {
  inChannels: number;
  numClasses: number;
  featureChannels: number[];
  dropout: number[];
}

export interface UNet2dModel extends SegmentationModel {
  readonly kind: 'unet2d';
  readonly options: ResolvedUNet2dOptions;
  readonly name: string;
  clone(options?: CloneOptions): UNet2dModel;
}

function resolve(options: UNet2dOptions): ResolvedUNet2dOptions {
  const o = {
    inChannels: options.inChannels ?? 1,
    numClasses: options.numClasses ?? 4,
    featureChannels: [
      ...(options.featureChannels ?? [1, 2, 4, 8, 16].map((k) => k * (options.baseFilters ?? 16))),
    ],
    dropout: [...(options.dropout ?? [0.05, 0.1, 0.2, 0.3, 0.5])],
  };
  for (const k of ['inChannels', 'numClasses'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 1) {
      throw new InputError(`createUNet2d: ${k} must be a positive integer, found ${o[k]}`);
    }
  }
  if (o.featureChannels.length !== 5 || !o.featureChannels.every((c) => Number.isInteger(c) && c >= 1)) {
    throw new InputError(
      `createUNet2d: featureChannels must be 5 positive integers, found [${o.featureChannels}]`,
    );
  }
  if (o.dropout.length !== 5 || !o.dropout.every((p) => p >= 0 && p < 1)) {
    throw new InputError(`createUNet2d: dropout must be 5 rates in [0, 1), found [${o.dropout}]`);
  }
  return o;
}

function convSpecs(key: string, k: number, cin: number, cout: number): ParameterSpec[] {
  const fanIn = cin * k * k;
  return [
    { key: `${key}.weight`, shape: [k, k, cin, cout], role: 'weight', fanIn },
    { key: `${key}.bias`, shape: [cout], role: 'bias', fanIn },
  ];
}

/** `conv_conv` Sequential indices: conv 0, bn 1, leaky 2, dropout 3, conv 4, bn 5, leaky 6. */
function convBlockSpecs(key: string, cin: number, cout: number): ParameterSpec[] {
  return [
    ...convSpecs(`${key}.conv_conv.0`, 3, cin, cout),
    ...bnSpecs(`${key}.conv_conv.1`, cout),
    ...convSpecs(`${key}.conv_conv.4`, 3, cout, cout),
    ...bnSpecs(`${key}.conv_conv.5`, cout),
  ];
}

const ENCODER_KEYS = [
  'encoder.in_conv',
  'encoder.down1.maxpool_conv.1',
  'encoder.down2.maxpool_conv.1',
  'encoder.down3.maxpool_conv.1',
  'encoder.down4.maxpool_conv.1',
];

/** The state dict in PyTorch order (encoder, then decoder up1..up4 and out_conv). */
export function unet2dParameterSpecs(options: UNet2dOptions = {}): ParameterSpec[] {
  const o = resolve(options);
  const ft = o.featureChannels;
  const specs: ParameterSpec[] = [];
  ENCODER_KEYS.forEach((key, i) => {
    specs.push(...convBlockSpecs(key, i === 0 ? o.inChannels : ft[i - 1], ft[i]));
  });
  for (let u = 1; u <= 4; u++) {
    const c1 = ft[5 - u];
    const c2 = ft[4 - u];
    specs.push(...convSpecs(`decoder.up${u}.conv1x1`, 1, c1, c2));
    specs.push(...convBlockSpecs(`decoder.up${u}.conv`, 2 * c2, c2));
  }
  specs.push(...convSpecs('decoder.out_conv', 3, ft[0], o.numClasses));
  return specs;
}

/**
 * Trainable parameter count from the specs alone (no tensors): 1,813,764 at the defaults.
 *
 * @param options The {@link createUNet2d} options that shape the network: `inChannels` (default 1), `numClasses`
 *   (default 4), `featureChannels` or `baseFilters` (default 16..256); the others do not change the count.
 * @returns The number of trainable parameters (weights and biases of every conv, BN scale and shift).
 * @throws InputError when `options` is not an object, a channel count is not a positive integer, or `dropout`
 *   is not 5 rates in [0, 1).
 * @example
 * import { unet2dParameterCount } from 'ssmis';
 *
 * console.log(unet2dParameterCount()); // 1813764
 * console.log(unet2dParameterCount({ numClasses: 2, baseFilters: 8 }));
 */
export function unet2dParameterCount(options: UNet2dOptions = {}): number {
  requireOptions('unet2dParameterCount', 'options', options);
  return countParameters(unet2dParameterSpecs(options));
}

/** BN → LeakyReLU(0.01) of one ConvBlock half. */
const bnLeaky = (x: tf.Tensor4D, store: ParameterStore, key: string, ctx: ForwardContext): tf.Tensor4D =>
  batchNormLeakyRelu(x, store, key, ctx, 0.01);

function convBlock(
  x: tf.Tensor4D,
  key: string,
  p: number,
  store: ParameterStore,
  ctx: ForwardContext,
): tf.Tensor4D {
  let h = bnLeaky(conv2d(x, store, `${key}.conv_conv.0`, 'same'), store, `${key}.conv_conv.1`, ctx);
  h = elementDropout(h, p, ctx);
  return bnLeaky(conv2d(h, store, `${key}.conv_conv.4`, 'same'), store, `${key}.conv_conv.5`, ctx);
}

function buildUNet2d(
  o: ResolvedUNet2dOptions,
  name: string,
  store: ParameterStore,
  seed: number,
): UNet2dModel {
  const fallbackRng = Rng.stream(seed, `${store.prefix}/dropout`);
  const apply = (x: tf.Tensor, options: ApplyOptions): tf.Tensor => {
    const ctx = forwardContext('UNet2d', 'unet2d', store, x, ['H', 'W'], o.inChannels, options, fallbackRng);
    const feats: tf.Tensor4D[] = [];
    let h = x as tf.Tensor4D;
    ENCODER_KEYS.forEach((key, i) => {
      if (i > 0) h = tf.maxPool(h, 2, 2, 'valid');
      h = convBlock(h, key, o.dropout[i], store, ctx);
      feats.push(h);
    });
    for (let u = 1; u <= 4; u++) {
      const up = upsampleBilinear2x(conv2d(h, store, `decoder.up${u}.conv1x1`, 'valid'));
      h = convBlock(tf.concat([feats[4 - u], up], 3), `decoder.up${u}.conv`, 0, store, ctx);
    }
    return conv2d(h, store, 'decoder.out_conv', 'same');
  };
  return {
    kind: 'unet2d',
    spatialDims: 2,
    inChannels: o.inChannels,
    numClasses: o.numClasses,
    options: o,
    name: store.prefix,
    apply,
    ...storeModelMembers(store, name, seed, (cloneName, copy) => buildUNet2d(o, cloneName, copy, seed)),
  };
}

/**
 * Creates the 2-D U-Net of the reference code (the network of the ACDC configs, run slice by slice) with
 * PyTorch-default initialisation from `rng` (or `Rng(seed)`, seed default 0), so the same seed gives the same
 * weights. Dropout masks come from `apply`'s `rng` (fallback: a model-owned stream, not checkpointed).
 *
 * @param options - `inChannels` (default 1), `numClasses` (default 2), `baseFilters` (F → channels
 *   F·[1, 2, 4, 8, 16], default 16) or `featureChannels` (five levels, takes precedence), `dropout` (five rates,
 *   default [0.05, 0.1, 0.2, 0.3, 0.5]), `name` (default `'unet2d'`), `seed`, `rng`, `trainable`.
 * @returns the model: `apply(x, { training })` maps `[N, H, W, C]` (H and W multiples of 16) to logits
 *   `[N, H, W, numClasses]`; `dispose()` frees its variables.
 * @throws {@link InputError} when `options` is not an object, an option has the wrong type, `inChannels` or
 *   `numClasses` is not a positive integer, `featureChannels` is not five positive integers, or `dropout` is not
 *   five rates in [0, 1).
 * @example
 * const net = createUNet2d({ numClasses: 4, seed: 1 });
 * const logits = tf.tidy(() => net.apply(tf.zeros([2, 32, 32, 1]), { training: false }));
 * net.dispose();
 */
export function createUNet2d(options: UNet2dOptions = {}): UNet2dModel {
  requireOptions('createUNet2d', 'options', options);
  if (options.name !== undefined) requireString('createUNet2d', 'options.name', options.name);
  if (options.seed !== undefined) requireNumber('createUNet2d', 'options.seed', options.seed);
  if (options.rng !== undefined) requireRng('createUNet2d', 'options.rng', options.rng);
  if (options.trainable !== undefined) requireBoolean('createUNet2d', 'options.trainable', options.trainable);
  const o = resolve(options);
  const name = options.name ?? 'unet2d';
  const seed = options.seed ?? 0;
  const store = new ParameterStore(name, unet2dParameterSpecs(o), options.rng ?? new Rng(seed), {
    trainable: options.trainable ?? true,
  });
  return buildUNet2d(o, name, store, seed);
}
