/**
 * The timed training step of the benchmarks: train-mode forward, mean softmax cross-entropy against one-hot
 * labels, backward over the trainable weights, optimizer update, and the disposal of the loss and the gradients.
 */

/**
 * A function running one step and returning its time in milliseconds.
 * @param {any} tf the TF.js namespace of `dist/`
 * @param {{ apply: Function, trainableWeights: () => any[] }} net
 * @param {any} x input batch
 * @param {any} labels one-hot labels
 * @param {any} optimizer a tf.train optimizer
 * @param {any} rng the dropout `Rng`
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
