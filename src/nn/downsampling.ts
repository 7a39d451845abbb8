/**
 * How far each network shrinks its input, without TF.js so that the config layer can check patch sizes before a
 * network exists. VNet: four stride-2 down-convolutions (`block_one_dw` … `block_four_dw`); UNet2d: four 2× max-pools
 * between its five encoder levels. tests/nn/downsampling.test.ts counts them in the networks' parameter lists.
 */

/** 2× down-samplings between the input and the smallest feature map (the bottleneck), per network. */
export const NETWORK_DOWNSAMPLINGS = { vnet: 4, unet2d: 4 } as const;

/** A network of {@link NETWORK_DOWNSAMPLINGS}. */
export type NetworkName = keyof typeof NETWORK_DOWNSAMPLINGS;

/**
 * Every spatial input size must be a multiple of this (2^down-samplings), so that each level halves exactly and
 * the decoder's up-sampled maps line up with the skips; the bottleneck is input / this per axis.
 */
export function inputSizeMultiple(name: NetworkName): number {
  return 2 ** NETWORK_DOWNSAMPLINGS[name];
}

/**
 * Channels of the widest full-resolution feature map: VNet's first and last levels carry `baseFilters`; UNet2d's
 * last decoder block concatenates the skip and the up-sampled features, 2 × `baseFilters`.
 */
export function fullResolutionChannels(name: NetworkName, baseFilters: number): number {
  return name === 'unet2d' ? 2 * baseFilters : baseFilters;
}
