import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SsmisConfig } from '../../src/config/index.js';
import { parseCaseList, readCaseList } from '../../src/data/case-list.js';
import { openDataset } from '../../src/data/dataset.js';
import { configSplitIds } from '../../src/data/from-config.js';
import { prepareDataset, readSplitLists } from '../../src/data/prepare/index.js';
import { synthesize } from '../../src/data/synth/index.js';
import { InputError } from '../../src/util/errors.js';

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ssmis-case-list-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function errorOf(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InputError);
  expect((error as Error).message.split('\n')).toHaveLength(1);
  return error as Error;
}

/** A config whose only field configSplitIds reads is `data.splits`. */
function configWith(splits: Record<string, unknown>): SsmisConfig {
  return { data: { splits } } as unknown as SsmisConfig;
}

describe('case lists: an id listed twice is an error naming the id and the file', () => {
  it('parseCaseList keeps the first comma field and names both lines of a duplicate', () => {
    expect(parseCaseList('a, 1\r\n\n b \nc,x\n', 'l.txt')).toEqual(['a', 'b', 'c']);
    expect(() => parseCaseList('a\nb\n\na, 7\n', 'l.txt')).toThrow(
      'l.txt: case "a" is listed twice (lines 1 and 4)',
    );
  });

  it('official split lists: twice in one list, or in two lists', async () => {
    const splits = path.join(dir, 'splits');
    await fs.mkdir(path.join(splits, 'la'), { recursive: true });
    const train = path.join(splits, 'la', 'train.list');
    const test = path.join(splits, 'la', 'test.list');
    await fs.writeFile(train, 'A\nB\nA\n');
    await fs.writeFile(test, 'C\n');
    expect((await errorOf(readSplitLists('la', splits))).message).toBe(
      `${train}: case "A" is listed twice (lines 1 and 3)`,
    );
    await fs.writeFile(train, 'A\nB\n');
    await fs.writeFile(test, 'C\nB\n');
    expect((await errorOf(readSplitLists('la', splits))).message).toBe(
      `${test}: case "B" is also listed in ${train} (a case belongs to one split)`,
    );
    // prepare and synth read the same lists, so they refuse them before any work.
    await fs.writeFile(test, 'C\nC\n');
    const out = path.join(dir, 'never');
    await errorOf(synthesize({ dataset: 'la', out, splitsDir: splits, cases: 2, size: [24, 24, 8] }));
    await expect(fs.access(out)).rejects.toThrow();
  });

  it('config data.splits: a list file or an inline list', async () => {
    const file = path.join(dir, 'val.txt');
    await fs.writeFile(file, 'c1\nc2\nc1\n');
    const dataset = { ids: () => [], imageOnlyIds: () => [] } as never;
    expect((await errorOf(configSplitIds(configWith({ val: file }), dataset, 'val'))).message).toBe(
      `${file}: case "c1" is listed twice (lines 1 and 3)`,
    );
    expect(
      (await errorOf(configSplitIds(configWith({ test: ['x', 'y', 'x'] }), dataset, 'test'))).message,
    ).toBe('data.splits.test: case "x" is listed twice');
    await fs.writeFile(file, 'c1\nc2\n');
    expect(await configSplitIds(configWith({ val: file }), dataset, 'val')).toEqual(['c1', 'c2']);
  });

  it('dataset.json: an id twice in one split', async () => {
    const ds = path.join(dir, 'ds-dup');
    await fs.mkdir(path.join(ds, 'imagesTr'), { recursive: true });
    const json = {
      name: 'T',
      channel_names: { '0': 'x' },
      labels: { background: 0, a: 1 },
      splits: { train: ['c0', 'c1', 'c0'] },
    };
    await fs.writeFile(path.join(ds, 'dataset.json'), JSON.stringify(json));
    expect((await errorOf(openDataset(ds))).message).toBe(
      `${path.join(ds, 'dataset.json')}: field "splits.train": case "c0" is listed twice`,
    );
  });
});

describe('list files, dataset.json and Info.cfg that are not regular files are refused (they would hang)', () => {
  it('a FIFO as a split list, as data.splits and as dataset.json', async () => {
    const splits = path.join(dir, 'fifo-splits');
    await fs.mkdir(path.join(splits, 'la'), { recursive: true });
    const train = path.join(splits, 'la', 'train.list');
    execFileSync('mkfifo', [train]);
    expect((await errorOf(readSplitLists('la', splits))).message).toBe(
      `${train}: cannot read the train split list of la: it is a FIFO (named pipe), not a regular file`,
    );
    expect(
      (await errorOf(configSplitIds(configWith({ test: train }), {} as never, 'test'))).message,
    ).toContain(`${train}: cannot read the data.splits.test list: it is a FIFO`);
    expect((await errorOf(readCaseList('/dev/zero', 'a list'))).message).toContain('it is a device');
    const ds = path.join(dir, 'fifo-ds');
    await fs.mkdir(ds);
    execFileSync('mkfifo', [path.join(ds, 'dataset.json')]);
    expect((await errorOf(openDataset(ds))).message).toContain(
      'dataset.json: cannot read dataset.json: it is a FIFO',
    );
  });

  it('an ACDC Info.cfg that is a FIFO fails that patient by name; the others are prepared', async () => {
    const raw = path.join(dir, 'acdc-raw');
    const syn = await synthesize({ dataset: 'acdc', out: raw, cases: 3, size: [24, 24, 4] });
    const patient = syn.ids.train[0];
    const cfg = path.join(raw, 'training', patient, 'Info.cfg');
    await fs.rm(cfg);
    execFileSync('mkfifo', [cfg]);
    const res = await prepareDataset({ dataset: 'acdc', raw, out: path.join(dir, 'acdc-out') });
    expect(res.failed).toEqual([
      { case: patient, error: `${cfg}: cannot read Info.cfg: it is a FIFO (named pipe), not a regular file` },
    ]);
    expect(res.prepared.length).toBe(2);
  });
});
