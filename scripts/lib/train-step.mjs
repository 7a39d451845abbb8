// @ts-check
/**
 * The timed training step of the benchmarks (bench vnet, bench-2d, bench-kernels): train-mode forward, mean
 * softmax cross-entropy against one-hot labels, backward over the trainable weights and the update of the
 * product's optimizer (`createOptimizer`, what `ssmis train` runs), the loss and the gradients disposed.
 */

/** @import { Optimizer, Rng, SegmentationModel, tf as TF } from '../../src/index.js' */

/**
 * A function running one step and returning its time in milliseconds.
 * @param {typeof TF} tf the TF.js namespace of `dist/`
 * @param {Pick<SegmentationModel, 'apply' | 'namedParameters'>} net
 * @param {TF.Tensor} x input batch
 * @param {TF.Tensor} labels one-hot labels
 * @param {Optimizer} optimizer the product's optimizer (`createOptimizer`)
 * @param {Rng} rng the dropout `Rng`
 * @param {() => void} [after] run inside the timed span after the update (e.g. an RSS sample)
 * @returns {() => number}
 */
export function timedTrainStep(tf, net, x, labels, optimizer, rng, after) {
  return () => {
    const t0 = performance.now();
    optimizer.step(
      () => tf.losses.softmaxCrossEntropy(labels, net.apply(x, { training: true, rng })),
      net.namedParameters(),
    );
    after?.();
    return performance.now() - t0;
  };
}
