import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/backend/tf.js';
import { centerCrop, randomCrop, randomRotFlip } from '../../src/data/augment.js';
import {
  BatchLoader,
  type BatchLoaderState,
  disposeBatch,
  type TrainingBatch,
} from '../../src/data/batches.js';
import { type Dataset, openDataset } from '../../src/data/dataset.js';
import { volumeFromArray, writeNifti } from '../../src/io/nifti.js';
import { Rng } from '../../src/util/rng.js';

const roots: string[] = [];
afterAll(async () => {
  await Promise.all(roots.map((r) => fs.rm(r, { recursive: true, force: true })));
});

/** ch0 = 1 + 100 i + 10 j + k encodes the source voxel; ch1 = ch0 + 1000; label = (i + 2j + 3k) % 3. */
const code = (i: number, j: number, k: number) => 1 + 100 * i + 10 * j + k;
const labelOf = (i: number, j: number, k: number) => (i + 2 * j + 3 * k) % 3;
const decode = (v: number): [number, number, number] => {
  const x = v - 1;
  return [Math.floor(x / 100), Math.floor((x % 100) / 10), x % 10];
};

async function buildDataset(options: {
  ids: string[];
  shape: [number, number, number];
  channels: number;
  dims: 2 | 3;
  preset: string;
}): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ssmis-batches-'));
  roots.push(dir);
  const [nx, ny, nz] = options.shape;
  const n = nx * ny * nz;
  for (const id of options.ids) {
    for (let c = 0; c < options.channels; c++) {
      const data = new Float32Array(n);
      for (let i = 0; i < nx; i++)
        for (let j = 0; j < ny; j++)
          for (let k = 0; k < nz; k++) data[(i * ny + j) * nz + k] = code(i, j, k) + 1000 * c;
      await writeNifti(
        path.join(dir, 'imagesTr', `${id}_${String(c).padStart(4, '0')}.nii.gz`),
        volumeFromArray(data, options.shape, { spacing: [1, 1, 1] }),
        { datatype: 'float32' },
      );
    }
    const label = new Uint8Array(n);
    for (let i = 0; i < nx; i++)
      for (let j = 0; j < ny; j++)
        for (let k = 0; k < nz; k++) label[(i * ny + j) * nz + k] = labelOf(i, j, k);
    await writeNifti(
      path.join(dir, 'labelsTr', `${id}.nii.gz`),
      volumeFromArray(label, options.shape, { spacing: [1, 1, 1] }),
      { datatype: 'uint8' },
    );
  }
  const json = {
    name: 'BatchTest',
    preset: options.preset,
    dims: options.dims,
    channel_names: Object.fromEntries(
      Array.from({ length: options.channels }, (_, c) => [String(c), `ch${c}`]),
    ),
    labels: { background: 0, a: 1, b: 2 },
    file_ending: '.nii.gz',
    splits: { train: options.ids, val: [], test: [] },
  };
  await fs.writeFile(path.join(dir, 'dataset.json'), JSON.stringify(json));
  return dir;
}

async function batchData(b: TrainingBatch) {
  return {
    li: Array.from(await b.labeledImages.data()),
    ll: Array.from(await b.labeledLabels.data()),
    ui: b.unlabeledImages === null ? null : Array.from(await b.unlabeledImages.data()),
    ids: b.caseIds,
    slices: b.slices,
    it: [b.epoch, b.iterationInEpoch, b.iteration],
  };
}

describe('BatchLoader 3-D (LA/BraTS: RandomRotFlip → RandomCrop)', () => {
  let ds: Dataset;
  const ids = ['c0', 'c1', 'c2', 'c3', 'c4', 'c5'];
  const patch = [4, 4, 4];
  beforeAll(async () => {
    ds = await openDataset(
      await buildDataset({ ids, shape: [6, 5, 4], channels: 2, dims: 3, preset: 'la' }),
      { cacheSize: 6 },
    );
  });
  const create = (
    samplerSeed: number,
    augSeed: number,
    extra: Partial<Parameters<typeof BatchLoader.create>[0]> = {},
  ) =>
    BatchLoader.create({
      dataset: ds,
      labeledIds: ids.slice(0, 4),
      unlabeledIds: ids.slice(4),
      patch,
      sampler: { labeledBatch: 2, unlabeledBatch: 2, rng: new Rng(samplerSeed) },
      rng: new Rng(augSeed),
      ...extra,
    });

  it('returns tensors of the documented shapes and dtypes; the caller owns them', async () => {
    const loader = await create(1, 2);
    expect(loader.iterationsPerEpoch).toBe(2);
    expect(loader.unitCounts).toEqual({ labeled: 4, unlabeled: 2 });
    const before = tf.memory().numTensors;
    for (let t = 0; t < 3; t++) {
      const b = await loader.next();
      expect(tf.memory().numTensors).toBe(before + 3);
      expect(b.labeledImages.shape).toEqual([2, 4, 4, 4, 2]);
      expect(b.labeledImages.dtype).toBe('float32');
      expect(b.labeledLabels.shape).toEqual([2, 4, 4, 4]);
      expect(b.labeledLabels.dtype).toBe('int32');
      expect(b.unlabeledImages?.shape).toEqual([2, 4, 4, 4, 2]);
      expect(b.caseIds.labeled.every((id) => ids.slice(0, 4).includes(id))).toBe(true);
      expect(b.caseIds.unlabeled.every((id) => ids.slice(4).includes(id))).toBe(true);
      expect(b.slices).toBeNull();
      disposeBatch(b);
      expect(tf.memory().numTensors).toBe(before);
    }
  });

  it('applies exactly randomRotFlip then randomCrop (margin 3) per sample, labeled first, with one Rng', async () => {
    const augRng = new Rng(2);
    const loader = await create(1, 0, { rng: augRng });
    for (let t = 0; t < 3; t++) {
      const probe = augRng.clone();
      const b = await loader.next();
      const d = await batchData(b);
      disposeBatch(b);
      const check = async (id: string, images: number[], labels: number[] | null, n: number) => {
        const c = await ds.loadCase(id);
        const r = randomRotFlip(c.image, c.label, c.shape, probe);
        const cr = randomCrop(r.image, r.label, r.shape, patch, probe, { padMargin: 3 });
        const v = 64;
        expect(images.slice(n * v * 2, (n + 1) * v * 2)).toEqual(Array.from(cr.image));
        if (labels !== null) expect(labels.slice(n * v, (n + 1) * v)).toEqual(Array.from(cr.label));
      };
      for (let n = 0; n < 2; n++) await check(d.ids.labeled[n], d.li, d.ll, n);
      for (let n = 0; n < 2; n++) await check(d.ids.unlabeled[n], d.ui ?? [], null, n);
      expect(augRng.getState()).toEqual(probe.getState());
    }
  });

  it('transforms image channels and label identically (decoded source voxel → label)', async () => {
    const loader = await create(5, 6);
    for (let t = 0; t < 4; t++) {
      const b = await loader.next();
      const d = await batchData(b);
      disposeBatch(b);
      let real = 0;
      for (let v = 0; v < 2 * 64; v++) {
        const c0 = d.li[2 * v];
        const c1 = d.li[2 * v + 1];
        if (c0 === 0) {
          expect([c1, d.ll[v]]).toEqual([0, 0]); // padding
          continue;
        }
        real++;
        expect(c1).toBe(c0 + 1000);
        expect(d.ll[v]).toBe(labelOf(...decode(c0)));
      }
      expect(real).toBeGreaterThan(0);
    }
  });

  it('is deterministic for the same seeds and differs for another augmentation seed', async () => {
    const a = await create(3, 4);
    const b = await create(3, 4);
    const c = await create(3, 99);
    let differs = false;
    for (let t = 0; t < 3; t++) {
      const [ba, bb, bc] = [await a.next(), await b.next(), await c.next()];
      const [da, db, dc] = [await batchData(ba), await batchData(bb), await batchData(bc)];
      [ba, bb, bc].forEach(disposeBatch);
      expect(db).toEqual(da);
      expect(dc.ids).toEqual(da.ids); // same sampler seed
      if (JSON.stringify(dc.li) !== JSON.stringify(da.li)) differs = true;
    }
    expect(differs).toBe(true);
  });

  it('resumes identically from a saved state', async () => {
    const a = await create(7, 8);
    for (let t = 0; t < 3; t++) disposeBatch(await a.next());
    const state = JSON.parse(JSON.stringify(a.getState())) as BatchLoaderState;
    const expected = [];
    for (let t = 0; t < 3; t++) {
      const b = await a.next();
      expected.push(await batchData(b));
      disposeBatch(b);
    }
    const fresh = await create(100, 200);
    fresh.setState(state);
    for (let t = 0; t < 3; t++) {
      const b = await fresh.next();
      expect(await batchData(b)).toEqual(expected[t]);
      disposeBatch(b);
    }
  });

  it('pancreas options: no rot/flip, margin 1, unlabeled center crop', async () => {
    const loader = await create(1, 2, { augment: { rotFlip: false, padMargin: 1, unlabeledCrop: 'center' } });
    const b = await loader.next();
    const d = await batchData(b);
    disposeBatch(b);
    for (let n = 0; n < 2; n++) {
      const c = await ds.loadCase(d.ids.unlabeled[n]);
      const cc = centerCrop(c.image, c.label, c.shape, patch, { padMargin: 1 });
      expect(d.ui?.slice(n * 128, (n + 1) * 128)).toEqual(Array.from(cc.image));
    }
    // Labeled: a pure translation of the source (no rotation/flip): source − output offset is constant.
    for (let n = 0; n < 2; n++) {
      const offsets = new Set<string>();
      for (let a = 0; a < 4; a++)
        for (let bb = 0; bb < 4; bb++)
          for (let k = 0; k < 4; k++) {
            const v = ((n * 4 + a) * 4 + bb) * 4 + k;
            const c0 = d.li[2 * v];
            if (c0 === 0) continue;
            const [i, j, z] = decode(c0);
            offsets.add(`${i - a},${j - bb},${z - k}`);
          }
      expect(offsets.size).toBe(1);
    }
  });

  it('supervised mode (unlabeled batch 0) gives no unlabeled tensor', async () => {
    const loader = await create(1, 2, { sampler: { labeledBatch: 3, unlabeledBatch: 0, rng: new Rng(1) } });
    const before = tf.memory().numTensors;
    const b = await loader.next();
    expect(b.unlabeledImages).toBeNull();
    expect(b.caseIds.unlabeled).toEqual([]);
    expect(tf.memory().numTensors).toBe(before + 2);
    disposeBatch(b);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects a patch of the wrong rank and overlapping id lists', async () => {
    await expect(create(1, 2, { patch: [4, 4] })).rejects.toThrow(
      /patch \[4, 4\] must be 3 positive integers/,
    );
    await expect(create(1, 2, { unlabeledIds: ['c3', 'c4'] })).rejects.toThrow(/case c3 is in both/);
  });
});

describe('BatchLoader 2-D (ACDC: axial slices → RandomGenerator)', () => {
  let ds: Dataset;
  const ids = ['v0', 'v1', 'v2', 'v3'];
  beforeAll(async () => {
    ds = await openDataset(
      await buildDataset({ ids, shape: [5, 4, 3], channels: 1, dims: 2, preset: 'acdc' }),
    );
  });
  const create = (seed: number) =>
    BatchLoader.create({
      dataset: ds,
      labeledIds: ids.slice(0, 2),
      unlabeledIds: ids.slice(2),
      patch: [6, 6],
      sampler: { labeledBatch: 2, unlabeledBatch: 2, rng: new Rng(seed) },
      rng: new Rng(seed + 1),
    });

  it('samples slices of labeled volumes as labeled units; shapes [N, H, W, C] / [N, H, W]', async () => {
    const loader = await create(11);
    expect(loader.dims).toBe(2);
    expect(loader.unitCounts).toEqual({ labeled: 6, unlabeled: 6 });
    expect(loader.iterationsPerEpoch).toBe(3);
    const before = tf.memory().numTensors;
    const epoch0 = new Set<string>();
    for (let t = 0; t < 3; t++) {
      const b = await loader.next();
      expect(b.labeledImages.shape).toEqual([2, 6, 6, 1]);
      expect(b.labeledLabels.shape).toEqual([2, 6, 6]);
      expect(b.labeledLabels.dtype).toBe('int32');
      expect(b.unlabeledImages?.shape).toEqual([2, 6, 6, 1]);
      const d = await batchData(b);
      disposeBatch(b);
      expect(d.ids.labeled.every((id) => id === 'v0' || id === 'v1')).toBe(true);
      expect(d.ids.unlabeled.every((id) => id === 'v2' || id === 'v3')).toBe(true);
      for (let n = 0; n < 2; n++) epoch0.add(`${d.ids.labeled[n]}:${d.slices?.labeled[n]}`);
      // Every non-zero pixel comes from the sampled slice, and the label followed the same map.
      for (let n = 0; n < 2; n++) {
        for (let p = 0; p < 36; p++) {
          const v = d.li[n * 36 + p];
          if (v === 0) {
            expect(d.ll[n * 36 + p]).toBe(0);
            continue;
          }
          const [i, j, z] = decode(v);
          expect(z).toBe(d.slices?.labeled[n]);
          expect(d.ll[n * 36 + p]).toBe(labelOf(i, j, z));
        }
      }
    }
    // One epoch = each of the 6 labeled slices exactly once.
    expect(epoch0.size).toBe(6);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('is deterministic for the same seeds', async () => {
    const a = await create(4);
    const b = await create(4);
    for (let t = 0; t < 2; t++) {
      const [ba, bb] = [await a.next(), await b.next()];
      expect(await batchData(bb)).toEqual(await batchData(ba));
      disposeBatch(ba);
      disposeBatch(bb);
    }
  });
});
