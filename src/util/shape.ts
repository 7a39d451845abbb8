/** Shape helpers every layer uses: equality and the text messages print. */

/** A shape as messages print it: `[2, 3, 4]`. */
export function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Whether two shapes are equal axis by axis (same rank, same extents). */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
