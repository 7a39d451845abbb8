// @ts-check
/**
 * What `scripts/experiment.mjs` records of its phantoms (`data.json`): split sizes and ids, a fingerprint of the
 * prepared labels, and the true foreground fraction of a training patch (exact, via a summed-volume table).
 */
import { createHash } from 'node:crypto';
import { mean } from './stats.mjs';

/**
 * @import { Plan, ReportData } from './experiment-report.mjs'
 */
/** @typedef {typeof import('../../src/index.js')} Lib the library, as `loadDist('index.js')` gives it */
/**
 * `data.json`: what the report reads, and the case ids of each split.
 * @typedef {ReportData & { ids: { labeled: string[], unlabeled: string[], val: string[], test: string[] } }} DataInfo
 */

/**
 * Split sizes and ids, and the true foreground fraction of a training patch: the mean, over the unlabeled
 * training cases and every position of a uniformly placed patch, of the label's foreground fraction inside it
 * (what the pseudo-labels' foreground fraction estimates when they are right), exact via a summed-volume table.
 * @param {Lib} lib
 * @param {string} datasetDir
 * @param {Plan} plan
 * @returns {Promise<DataInfo>}
 */
export async function describeData(lib, datasetDir, plan) {
  const ds = await lib.openDataset(datasetDir);
  const ids = { train: ds.ids('train'), val: ds.ids('val'), test: ds.ids('test') };
  const labeledIds = ids.train.slice(0, plan.settings.labeled);
  const unlabeledIds = ids.train.slice(plan.settings.labeled);
  const hash = createHash('sha256');
  /** @type {number[]} */
  const fractions = [];
  /** @type {number[]} */
  const volumeFractions = [];
  for (const id of [...ids.train, ...ids.val, ...ids.test]) {
    const c = await ds.loadCase(id);
    hash.update(id).update(Buffer.from(c.label.buffer, c.label.byteOffset, c.label.byteLength));
    if (unlabeledIds.includes(id)) {
      fractions.push(patchForegroundFraction(c.label, c.shape, plan.settings.patch));
      let fg = 0;
      for (let i = 0; i < c.label.length; i++) if (c.label[i] !== 0) fg++;
      volumeFractions.push(fg / c.label.length);
    }
  }
  return {
    fingerprint: hash.digest('hex').slice(0, 16),
    counts: {
      train: ids.train.length,
      labeled: labeledIds.length,
      unlabeled: unlabeledIds.length,
      val: ids.val.length,
      test: ids.test.length,
    },
    ids: { labeled: labeledIds, unlabeled: unlabeledIds, val: ids.val, test: ids.test },
    trueForegroundFraction: { patch: mean(fractions), volume: mean(volumeFractions) },
  };
}

/**
 * Mean foreground fraction of a `patch`-sized window over every position inside `shape` (padded when smaller).
 * @param {ArrayLike<number>} label row-major [X, Y, Z]
 * @param {readonly number[]} shape
 * @param {readonly number[]} patch
 * @returns {number}
 */
export function patchForegroundFraction(label, shape, patch) {
  const [nx, ny, nz] = shape;
  const px = Math.min(patch[0], nx);
  const py = Math.min(patch[1], ny);
  const pz = Math.min(patch[2], nz);
  const sx = nx + 1;
  const sy = ny + 1;
  const table = new Float64Array(sx * sy * (nz + 1));
  /**
   * @param {number} x
   * @param {number} y
   * @param {number} z
   */
  const at = (x, y, z) => (z * sy + y) * sx + x;
  // Row-major [X, Y, Z] label: index = (x * ny + y) * nz + z.
  for (let x = 1; x <= nx; x++) {
    for (let y = 1; y <= ny; y++) {
      for (let z = 1; z <= nz; z++) {
        const v = label[((x - 1) * ny + (y - 1)) * nz + (z - 1)] !== 0 ? 1 : 0;
        table[at(x, y, z)] =
          v +
          table[at(x - 1, y, z)] +
          table[at(x, y - 1, z)] +
          table[at(x, y, z - 1)] -
          table[at(x - 1, y - 1, z)] -
          table[at(x - 1, y, z - 1)] -
          table[at(x, y - 1, z - 1)] +
          table[at(x - 1, y - 1, z - 1)];
      }
    }
  }
  /**
   * @param {number} x0
   * @param {number} y0
   * @param {number} z0
   */
  const box = (x0, y0, z0) => {
    const [x1, y1, z1] = [x0 + px, y0 + py, z0 + pz];
    return (
      table[at(x1, y1, z1)] -
      table[at(x0, y1, z1)] -
      table[at(x1, y0, z1)] -
      table[at(x1, y1, z0)] +
      table[at(x0, y0, z1)] +
      table[at(x0, y1, z0)] +
      table[at(x1, y0, z0)] -
      table[at(x0, y0, z0)]
    );
  };
  let sum = 0;
  let count = 0;
  for (let x = 0; x + px <= nx; x++) {
    for (let y = 0; y + py <= ny; y++) {
      for (let z = 0; z + pz <= nz; z++) {
        sum += box(x, y, z);
        count++;
      }
    }
  }
  return sum / count / (patch[0] * patch[1] * patch[2]);
}
