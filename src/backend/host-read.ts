/**
 * Host reads that work on every backend. The `cpu` and native backends read a tensor's values synchronously;
 * the `webgpu` backend in Node cannot (its synchronous read goes through a canvas, which Node lacks), so there a
 * read is queued and done by an `await` at the next {@link settleHostReads}. Code that must stay synchronous (the
 * `prepare` and `loss` calls of a training step, which run inside `tf.variableGrads`) reads through
 * {@link readOnHost}; the training loop settles the queue between the phases, so on the sync backends nothing
 * changes (the callback runs at once, in the same order as a `dataSync`).
 */
import { tf } from './tf.js';

interface PendingRead {
  tensors: tf.Tensor[];
  use: (values: tf.TypedArray[]) => void;
}

const pending: PendingRead[] = [];

/** True when the active backend can read tensor values synchronously (every backend but `webgpu`). */
export function syncReadable(): boolean {
  return tf.getBackend() !== 'webgpu';
}

/**
 * Hands the values of `tensors` to `use`: at once where the backend reads synchronously, else at the next
 * {@link settleHostReads} (the tensors are kept alive until then, so a `tf.tidy` around the call may end).
 * Whatever `use` writes (numbers into a record, tensors into a prepared step) is complete only after that settle.
 */
export function readOnHost(tensors: tf.Tensor[], use: (values: tf.TypedArray[]) => void): void {
  if (syncReadable()) {
    use(tensors.map((t) => t.dataSync()));
    return;
  }
  pending.push({ tensors: tensors.map((t) => tf.keep(tf.clone(t))), use });
}

/**
 * The numbers of scalar tensors in a new record, filled at once on the sync backends and at the next
 * {@link settleHostReads} on `webgpu` (keep the record, do not copy its values before then).
 */
export function scalarsOnHost(scalars: Record<string, tf.Tensor>): Record<string, number> {
  const keys = Object.keys(scalars);
  const out: Record<string, number> = {};
  for (const k of keys) out[k] = Number.NaN;
  readOnHost(
    keys.map((k) => scalars[k]),
    (values) => {
      keys.forEach((k, i) => {
        out[k] = values[i][0] as number;
      });
    },
  );
  return out;
}

/**
 * Runs every queued read (and the reads those callbacks queue) with `await data()`. Every queued tensor is
 * freed, also when a callback throws; the callbacks after a failed one are skipped. Call it after a method
 * variant's `prepare` and after the optimizer step that runs its `loss`, as the training loop does: a no-op on
 * the backends that read synchronously, required on `webgpu` (the pseudo-labels and the loss parts are filled in
 * here).
 *
 * @returns a promise that resolves once every queued read has been delivered.
 * @throws the first error a callback threw (e.g. the `InputError` of a label out of range).
 * @example
 * const prepared = variant.prepare(ctx, batch);
 * await settleHostReads();
 * let step;
 * const loss = await optimizer.stepAsync(() => (step = variant.loss(ctx, batch, prepared)).loss, params);
 * await settleHostReads(); // step.parts and step.diagnostics are complete now
 * prepared.dispose();
 */
export async function settleHostReads(): Promise<void> {
  let firstError: unknown;
  let failed = false;
  while (pending.length > 0) {
    const batch = pending.splice(0);
    for (const read of batch) {
      try {
        const values = await Promise.all(read.tensors.map((t) => t.data()));
        if (!failed) read.use(values);
      } catch (error) {
        if (!failed) firstError = error;
        failed = true;
      } finally {
        tf.dispose(read.tensors);
      }
    }
  }
  if (failed) throw firstError;
}

/** Number of queued reads (tests: nothing may stay queued after a step). */
export function pendingHostReads(): number {
  return pending.length;
}

/**
 * Reads the values of `tensors` once with `await data()`, after which the `webgpu` backend also answers a
 * synchronous read of them from its host copy (used before writing weights, whose code path is synchronous).
 * Nothing to do on the sync backends.
 */
export async function prefetchHostValues(tensors: Iterable<tf.Tensor>): Promise<void> {
  if (syncReadable()) return;
  await Promise.all([...tensors].map((t) => t.data()));
}

/**
 * Runs `fn` after every read queued so far: at once on the sync backends, at the next {@link settleHostReads} on
 * `webgpu` (for code that combines numbers {@link readOnHost} fills in, e.g. merging diagnostics records).
 */
export function afterHostReads(fn: () => void): void {
  readOnHost([], () => fn());
}

/** Drops every queued read without running it (a step that failed): frees the tensors kept for them. */
export function discardHostReads(): void {
  for (const read of pending.splice(0)) tf.dispose(read.tensors);
}
