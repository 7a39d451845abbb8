/**
 * An nnU-Net v2 raw folder written exactly as nnU-Net's dataset-format documentation describes it
 * (`Dataset001_LA/dataset.json` with only `channel_names`, `labels`, `numTraining`, `file_ending`, in that key
 * order; `imagesTr/<case>_0000.nii.gz`, `labelsTr/<case>.nii.gz`, `imagesTs/`), with the project's NIfTI writer
 * and, mixed in, images in imagesTr without a label file (unlabeled cases).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { volumeFromArray, writeNifti } from '../../src/io/nifti.js';
import type { Affine } from '../../src/io/volume.js';
import { Rng } from '../../src/util/rng.js';

export interface NnunetFolderOptions {
  /** Spatial shape of every case. Default [36, 36, 20]. */
  shape?: [number, number, number];
  /** imagesTr cases with a label in labelsTr. Default la_001 … la_008. */
  labeled?: string[];
  /** imagesTr cases without a label file. Default la_101, la_102. */
  unlabeled?: string[];
  /** imagesTs cases with a label in labelsTs. Default ts_001. */
  testLabeled?: string[];
  /** imagesTs cases without a label. Default ts_002. */
  testUnlabeled?: string[];
  /** file_ending. Default '.nii.gz'. */
  ending?: '.nii.gz' | '.nii';
  /** Replaces the documented dataset.json. */
  json?: unknown;
}

export const AFFINE: Affine = [
  [1.25, 0, 0, -20],
  [0, 1.25, 0, -22],
  [0, 0, 2.5, 10],
  [0, 0, 0, 1],
];

/** A blob of label 1 at a seeded position, and an int16 MRI-like image of it with seeded noise. */
function makeCase(seed: number, shape: [number, number, number]): { image: Int16Array; label: Uint8Array } {
  const rng = new Rng(seed);
  const [nx, ny, nz] = shape;
  const c = [rng.uniform(0.35, 0.65) * nx, rng.uniform(0.35, 0.65) * ny, rng.uniform(0.35, 0.65) * nz];
  const r = [nx / 4, ny / 4, nz / 4];
  const image = new Int16Array(nx * ny * nz);
  const label = new Uint8Array(nx * ny * nz);
  for (let i = 0; i < nx; i++)
    for (let j = 0; j < ny; j++)
      for (let k = 0; k < nz; k++) {
        const v = (i * ny + j) * nz + k;
        const d = ((i - c[0]) / r[0]) ** 2 + ((j - c[1]) / r[1]) ** 2 + ((k - c[2]) / r[2]) ** 2;
        label[v] = d < 1 ? 1 : 0;
        image[v] = Math.round(100 + 400 * label[v] + rng.normal(0, 40));
      }
  return { image, label };
}

/** Writes one case's image (channel 0) into `images` and, when `labels` is given, its label. */
export async function writeNnunetCase(
  images: string,
  labels: string | null,
  id: string,
  seed: number,
  shape: [number, number, number] = [36, 36, 20],
  ending = '.nii.gz',
): Promise<void> {
  const { image, label } = makeCase(seed, shape);
  await writeNifti(
    path.join(images, `${id}_0000${ending}`),
    volumeFromArray(image, shape, { affine: AFFINE }),
    {
      datatype: 'int16',
    },
  );
  if (labels !== null) {
    await writeNifti(path.join(labels, `${id}${ending}`), volumeFromArray(label, shape, { affine: AFFINE }), {
      datatype: 'uint8',
    });
  }
}

/** Writes `<root>/Dataset001_LA` and returns its path. */
export async function writeNnunetFolder(root: string, options: NnunetFolderOptions = {}): Promise<string> {
  const dir = path.join(root, 'Dataset001_LA');
  const shape = options.shape ?? [36, 36, 20];
  const ending = options.ending ?? '.nii.gz';
  const labeled =
    options.labeled ?? Array.from({ length: 8 }, (_, i) => `la_${String(i + 1).padStart(3, '0')}`);
  const unlabeled = options.unlabeled ?? ['la_101', 'la_102'];
  const testLabeled = options.testLabeled ?? ['ts_001'];
  const testUnlabeled = options.testUnlabeled ?? ['ts_002'];
  let seed = 1;
  for (const id of labeled)
    await writeNnunetCase(path.join(dir, 'imagesTr'), path.join(dir, 'labelsTr'), id, seed++, shape, ending);
  for (const id of unlabeled)
    await writeNnunetCase(path.join(dir, 'imagesTr'), null, id, seed++, shape, ending);
  for (const id of testLabeled)
    await writeNnunetCase(path.join(dir, 'imagesTs'), path.join(dir, 'labelsTs'), id, seed++, shape, ending);
  for (const id of testUnlabeled)
    await writeNnunetCase(path.join(dir, 'imagesTs'), null, id, seed++, shape, ending);
  // The documented form: these four keys in this order, numTraining an integer (the images in imagesTr).
  const json = options.json ?? {
    channel_names: { '0': 'MRI' },
    labels: { background: 0, LA: 1 },
    numTraining: labeled.length + unlabeled.length,
    file_ending: ending,
  };
  await fs.writeFile(path.join(dir, 'dataset.json'), `${JSON.stringify(json, null, 4)}\n`);
  return dir;
}

/** Every file under `dir` (relative paths) with its bytes, to show a folder was left as it was. */
export async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (sub: string) => {
    for (const entry of await fs.readdir(path.join(dir, sub), { withFileTypes: true })) {
      const rel = path.join(sub, entry.name);
      if (entry.isDirectory()) await walk(rel);
      else out.set(rel, (await fs.readFile(path.join(dir, rel))).toString('base64'));
    }
  };
  await walk('');
  return out;
}
