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
 *
 * Pad (`PadV2`, also the gradient of every `tf.slice`): the shader compares coordinates with vector ops that WGSL
 * has only up to 4 components, so a rank-5 pad does not compile and returns zeros (the gradient of a slice of
 * 5-D logits vanished). The wrapper pads through at most 4-D views: an axis without padding joins the axis
 * before it (a constant pad of whole blocks is the same pad on the merged axis, scaled by the block size), and
 * when more than 4 groups remain the pad runs in two passes, the first axes then the others.
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

type Paddings = [number, number][];

/**
 * The ≤ 4-D view of a constant pad: groups of axes, each a padded (or the first) axis followed by unpadded ones,
 * with the group's padding scaled by the size of its unpadded tail. Null when more than 4 groups are needed.
 */
export function padView(
  shape: readonly number[],
  paddings: Paddings,
): { shape: number[]; paddings: Paddings; outShape: number[] } | null {
  const view: number[] = [];
  const pads: Paddings = [];
  for (let i = 0; i < shape.length; i++) {
    const [before, after] = paddings[i];
    if (i > 0 && before === 0 && after === 0) {
      const g = view.length - 1;
      view[g] *= shape[i];
      pads[g] = [pads[g][0] * shape[i], pads[g][1] * shape[i]];
    } else {
      view.push(shape[i]);
      pads.push([before, after]);
    }
  }
  if (view.length > 4) return null;
  const outShape = shape.map((d, i) => paddings[i][0] + d + paddings[i][1]);
  return { shape: view, paddings: pads, outShape };
}

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
  registerPadFix(reshape);
  registered = true;
}

function registerPadFix(reshape: tf.KernelConfig): void {
  const original = tf.getKernel('PadV2', BACKEND);
  if (original === undefined) return;
  tf.unregisterKernel('PadV2', BACKEND);
  const pad = (args: Parameters<tf.KernelFunc>[0]): tf.TensorInfo => {
    const x = args.inputs.x as tf.TensorInfo;
    const attrs = args.attrs as unknown as { paddings: Paddings; constantValue: number };
    const backend = args.backend as tf.KernelBackend;
    if (x.shape.length <= 4) return original.kernelFunc(args) as tf.TensorInfo;
    const view = padView(x.shape, attrs.paddings);
    const run = (kernel: string, inputs: tf.NamedTensorInfoMap, a: object): tf.TensorInfo =>
      (kernel === 'Reshape' ? reshape : original).kernelFunc({
        inputs,
        backend,
        attrs: a as unknown as tf.NamedAttrMap,
      }) as tf.TensorInfo;
    if (view === null) {
      // Two passes, each padding fewer axes: the first half of the axes, then the rest.
      const half = Math.ceil(x.shape.length / 2);
      const first = attrs.paddings.map((p, i) => (i < half ? p : [0, 0])) as Paddings;
      const rest = attrs.paddings.map((p, i) => (i < half ? [0, 0] : p)) as Paddings;
      const mid = pad({ ...args, attrs: { ...attrs, paddings: first } as unknown as tf.NamedAttrMap });
      try {
        return pad({
          ...args,
          inputs: { x: mid },
          attrs: { ...attrs, paddings: rest } as unknown as tf.NamedAttrMap,
        });
      } finally {
        backend.disposeData(mid.dataId);
      }
    }
    const flat = run('Reshape', { x }, { shape: view.shape });
    try {
      const padded = run(
        'PadV2',
        { x: flat },
        { paddings: view.paddings, constantValue: attrs.constantValue },
      );
      try {
        return run('Reshape', { x: padded }, { shape: view.outShape });
      } finally {
        backend.disposeData(padded.dataId);
      }
    } finally {
      backend.disposeData(flat.dataId);
    }
  };
  tf.registerKernel({ ...original, kernelFunc: pad as tf.KernelFunc });
}
