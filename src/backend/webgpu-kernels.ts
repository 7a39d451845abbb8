/**
 * Repairs of TF.js 4.22's `webgpu` kernels, registered when the backend is set up (the way `tf.ts` adds the
 * gradient the cpu backend lacks).
 *
 * Binary ops: when one operand is a vector of 2–127 values (a per-channel scale, shift or bias) and the other has
 * rank 5 or more, the `webgpu` kernel takes a shared-memory path whose shader indexes the output coordinates as an
 * array (`coords[4]`); rank-5 and rank-6 coordinates are WGSL structs, so the shader does not compile and the op
 * returns zeros (every batch norm and bias of the VNet). The wrapper below reshapes such a vector to the other
 * operand's rank first (`[C]` → `[1, 1, 1, 1, C]`), which selects the general broadcast path: same values, same
 * output shape, so the gradients (computed from the op's original inputs) are untouched.
 */
import { tf } from './tf.js';

const BACKEND = 'webgpu';

/** The binary kernels built on the `webgpu` backend's BinaryOpProgram. */
const BINARY_KERNELS = [
  'Add',
  'Sub',
  'Multiply',
  'RealDiv',
  'Maximum',
  'Minimum',
  'Pow',
  'SquaredDifference',
  'Equal',
  'NotEqual',
  'Greater',
  'GreaterEqual',
  'Less',
  'LessEqual',
  'LogicalAnd',
  'LogicalOr',
  'FloorDiv',
  'Mod',
  'Atan2',
  'Prelu',
];

let registered = false;

/** Whether a binary op with these operand shapes reaches the broken rank-5 shared-memory path. */
export function needsRankFix(a: readonly number[], b: readonly number[]): boolean {
  const vector = (s: readonly number[]) => s.length <= 1 && (s[0] ?? 1) > 1 && (s[0] ?? 1) < 128;
  return (a.length >= 5 && vector(b)) || (b.length >= 5 && vector(a));
}

/** Registers the repaired kernels on the `webgpu` backend (once; a no-op before its kernels are loaded). */
export function registerWebgpuKernelFixes(): void {
  if (registered) return;
  const reshape = tf.getKernel('Reshape', BACKEND);
  if (reshape === undefined) return;
  for (const name of BINARY_KERNELS) {
    const original = tf.getKernel(name, BACKEND);
    if (original === undefined) continue;
    tf.unregisterKernel(name, BACKEND);
    tf.registerKernel({
      ...original,
      kernelFunc: (args) => {
        const { inputs, backend } = args;
        const keys = Object.keys(inputs);
        const [ka, kb] = keys;
        const a = inputs[ka] as tf.TensorInfo;
        const b = inputs[kb] as tf.TensorInfo;
        if (keys.length !== 2 || !needsRankFix(a.shape, b.shape)) return original.kernelFunc(args);
        const [vectorKey, other] = a.shape.length <= 1 ? [ka, b] : [kb, a];
        const vector = inputs[vectorKey] as tf.TensorInfo;
        const shape = new Array<number>(other.shape.length).fill(1);
        shape[shape.length - 1] = vector.shape[0] ?? 1;
        const widened = reshape.kernelFunc({
          inputs: { x: vector },
          backend,
          attrs: { shape },
        }) as tf.TensorInfo;
        try {
          return original.kernelFunc({ ...args, inputs: { ...inputs, [vectorKey]: widened } });
        } finally {
          (backend as tf.KernelBackend).disposeData(widened.dataId);
        }
      },
    });
  }
  registered = true;
}
