// @ts-check
/**
 * The timed training step of the benchmarks: train-mode forward, mean softmax cross-entropy against one-hot
 * labels, backward over the trainable weights, optimizer update, and the disposal of the loss and the gradients.
 */

/** @import { Rng, SegmentationModel, tf as TF } from '../../src/index.js' */

/**
 * A function running one step and returning its time in milliseconds.
 * @param {typeof TF} tf the TF.js namespace of `dist/`
 * @param {Pick<SegmentationModel, 'apply' | 'trainableWeights'>} net
 * @param {TF.Tensor} x input batch
 * @param {TF.Tensor} labels one-hot labels
 * @param {TF.Optimizer} optimizer a tf.train optimizer
 * @param {Rng} rng the dropout `Rng`
 * @returns {() => number}
 */
export function timedTrainStep(tf, net, x, labels, optimizer, rng) {
  return () => {
    const t0 = performance.now();
    const { value, grads } = tf.variableGrads(
      () => tf.losses.softmaxCrossEntropy(labels, net.apply(x, { training: true, rng })),
      net.trainableWeights(),
    );
    optimizer.applyGradients(grads);
    tf.dispose([value, grads]);
    return performance.now() - t0;
  };
}
