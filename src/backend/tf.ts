/**
 * The one TF.js import of the package. Every module imports `tf` from here so that the patches below are
 * applied before any tensor exists, whether the package is used through the CLI or as a library.
 *
 * `@tensorflow/tfjs` (not `-core`) is the only entry point that registers every gradient (core + cpu
 * alone leaves e.g. Mean and Sum without gradients, and plain Node cannot load core's gradient files).
 */
import * as tf from '@tensorflow/tfjs';

// The banner ("Hi, looks like you are running TensorFlow.js in Node.js...") is printed through a warn that
// PROD silences; in 4.22 PROD disables no checks.
tf.env().set('PROD', true);

/**
 * `tf.conv3dTranspose` runs the Conv3DBackpropInputV2 kernel, which has no registered gradient in 4.22.
 * This mirrors TF.js's Conv2DBackpropInput gradient; tests check it against finite differences.
 */
function registerConv3DBackpropInputGradient(): void {
  if (tf.getGradient('Conv3DBackpropInputV2') !== undefined) return;
  tf.registerGradient({
    kernelName: 'Conv3DBackpropInputV2',
    inputsToSave: ['dy', 'filter'],
    gradFunc: (ddx, saved, attrs) => {
      const [dy, filter] = saved as [tf.Tensor5D, tf.Tensor5D];
      const { strides, pad } = attrs as unknown as {
        strides: [number, number, number];
        pad: 'valid' | 'same';
      };
      const g = (Array.isArray(ddx) ? ddx[0] : ddx) as tf.Tensor5D;
      return {
        dy: () => tf.conv3d(g, filter, strides, pad),
        filter: () =>
          tf.engine().runKernel('Conv3DBackpropFilterV2', { x: g, dy }, {
            strides,
            pad,
            filterShape: filter.shape,
          } as unknown as tf.NamedAttrMap) as tf.Tensor,
      };
    },
  });
}

registerConv3DBackpropInputGradient();

export { tf };
