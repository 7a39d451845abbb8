/**
 * The defaults that follow the network's spatial dimensions, shared by the config (which writes them out) and the
 * method functions (which apply them when called without a config). TF.js-free, so the config layer may import it.
 */
import type { Connectivity } from './connected-components.js';
import type { LossDice } from './variants/names.js';

/**
 * The default connectivity of the largest-component step: full neighbourhoods, 26 in 3-D and 8 for 2-D slices.
 * @param spatialDims - 3 for volumes, 2 for slices.
 */
export function defaultConnectivity(spatialDims: number): Connectivity {
  return spatialDims === 3 ? 26 : 8;
}

/**
 * The default Dice formula (`method.lossDice`): the per-sample `volume3d` of the 3-D reference scripts, the
 * whole-batch `batch2d` of the 2-D (ACDC) one.
 * @param spatialDims - 3 for volumes, 2 for slices.
 */
export function defaultLossDice(spatialDims: number): LossDice {
  return spatialDims === 3 ? 'volume3d' : 'batch2d';
}
