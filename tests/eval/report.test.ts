import { readFileSync } from 'node:fs';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import type { CaseEvaluation, ClassMetrics } from '../../src/eval/protocol.js';
import {
  buildReport,
  casesToCsv,
  formatReportHeader,
  formatReportNotes,
  formatSummaryTable,
  renderHtmlReport,
  renderOverlay,
  representativeSlices,
  safeFileStem,
  writeCaseOverlays,
  writeReportFiles,
} from '../../src/eval/report.js';
import { removeTempDirs, tempDir } from './eval-helpers.js';

afterAll(removeTempDirs);

function cls(classId: number, m: Partial<ClassMetrics>): ClassMetrics {
  return {
    classId,
    dice: 0,
    jaccard: 0,
    hd95: null,
    hd: null,
    asd: null,
    assd: null,
    predVoxels: 10,
    labelVoxels: 10,
    ...m,
  };
}

function caseOf(caseId: string, classes: ClassMetrics[]): CaseEvaluation {
  return { caseId, protocol: 'strict', units: 'mm', classes };
}

const CASES: CaseEvaluation[] = [
  caseOf('a', [
    cls(1, { dice: 0.8, jaccard: 0.6, hd95: 2, hd: 3, asd: 1, assd: 1 }),
    cls(2, { dice: 0.6, jaccard: 0.5, hd95: 4, hd: 5, asd: 3, assd: 2 }),
  ]),
  caseOf('b,"x"', [
    cls(1, { dice: 0.4, jaccard: 0.2, hd95: 6, hd: 7, asd: 2, assd: 2 }),
    cls(2, { dice: 0, jaccard: 0, predVoxels: 0 }),
  ]),
];

const META = {
  largestComponent: 26 as const,
  selection: {
    split: 'val',
    checkpoint: '/runs/x/checkpoints/best.safetensors',
    best: { dice: 0.9, iteration: 400 },
  },
  source: { mode: 'model' as const, dataset: '/data/acdc', split: 'test' },
  classNames: { 1: 'RV', 2: 'Myo' },
  createdAt: '2025-01-01T00:00:00.000Z',
};

describe('buildReport', () => {
  it('adds per-case overall mean ± std, empty count, selection and metadata', () => {
    const r = buildReport(CASES, META);
    expect(r.classes.map((c) => c.name)).toEqual(['RV', 'Myo']);
    expect(r.emptyPredictions).toBe(1);
    expect(r.largestComponent).toEqual({ enabled: true, connectivity: 26 });
    expect(r.selection.split).toBe('val');
    // Per-case class means of Dice: a → 0.7, b → 0.2; mean 0.45, population std 0.25.
    expect(r.overall.dice.mean).toBeCloseTo(0.45, 12);
    expect(r.overall.dice.std).toBeCloseTo(0.25, 12);
    // 95HD: a → 3 (both classes), b → 6 (class 2 missing); mean 4.5, std 1.5; no case lacks every class.
    expect(r.overall.hd95.mean).toBeCloseTo(4.5, 12);
    expect(r.overall.hd95.std).toBeCloseTo(1.5, 12);
    expect(r.overall.hd95.missing).toBe(0);
    expect(r.classes[1].metrics.hd95).toMatchObject({ mean: 4, count: 1, missing: 1 });
    expect(r.ssmisVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(r.createdAt).toBe('2025-01-01T00:00:00.000Z');
  });
});

describe('formatSummaryTable and the header', () => {
  it('prints classes and the mean with mean ± std, n, empty and missing in fixed-width columns', () => {
    const r = buildReport(CASES, META);
    const lines = formatSummaryTable(r).split('\n');
    expect(lines[0]).toMatch(
      /^class\s+Dice\s+Jaccard\s+95HD \(mm\)\s+HD \(mm\)\s+ASD \(mm\)\s+ASSD \(mm\)\s+n\s+empty\s+missing$/,
    );
    expect(lines[1]).toMatch(/^-+( +-+){9}$/);
    // Class 1: Dice 0.6 ± 0.2, Jaccard 0.4 ± 0.2, 95HD 4 ± 2, HD 5 ± 2, ASD 1.5 ± 0.5, ASSD 1.5 ± 0.5.
    expect(lines[2]).toMatch(
      /^1 RV\s+0\.6000 ± 0\.2000\s+0\.4000 ± 0\.2000\s+4\.00 ± 2\.00\s+5\.00 ± 2\.00\s+1\.50 ± 0\.50\s+1\.50 ± 0\.50\s+2\s+0\s+0$/,
    );
    expect(lines[3]).toMatch(
      /^2 Myo\s+0\.3000 ± 0\.3000\s+0\.2500 ± 0\.2500\s+4\.00 ± 0\.00\s+5\.00 ± 0\.00\s+3\.00 ± 0\.00\s+2\.00 ± 0\.00\s+2\s+1\s+1$/,
    );
    expect(lines[4]).toMatch(/^mean\s+0\.4500 ± 0\.2500\s.*\s2\s+1\s+1$/);
    // Fixed width: every row's `n` column ends at the same offset.
    const end = lines[0].indexOf(' n ') + 1;
    for (const line of lines.slice(2)) expect(line[end]).toBe('2');
  });

  it('all-missing distances print as missing', () => {
    const r = buildReport([caseOf('c', [cls(1, { predVoxels: 0 })])], META);
    expect(formatSummaryTable(r).split('\n')[2]).toMatch(
      /0\.0000 ± 0\.0000\s+0\.0000 ± 0\.0000\s+missing\s+missing\s+missing\s+missing\s+1\s+1\s+1$/,
    );
  });

  it('the header names protocol, units, LCC and the model-selection split', () => {
    const h = formatReportHeader(buildReport(CASES, META));
    expect(h).toContain('protocol strict');
    expect(h).toContain('distances in mm');
    expect(h).toContain('largest component on (26-connected)');
    expect(h).toContain('model selection: val split (best.safetensors)');
    expect(h).toContain('2 cases');
    const off = formatReportHeader(
      buildReport(CASES, { ...META, largestComponent: false, selection: undefined }),
    );
    expect(off).toContain('largest component off');
    expect(off).toContain('model selection: not recorded');
  });
});

describe('one column list', () => {
  /** The metric names of a header row, in order, without the distance unit. */
  const metricsOf = (cells: readonly string[]) =>
    cells
      .map((c) => c.replace(/ \((mm|vox)\)$/, '').toLowerCase())
      .filter((c) => ['dice', 'jaccard', '95hd', 'hd95', 'hd', 'asd', 'assd'].includes(c))
      .map((c) => (c === '95hd' ? 'hd95' : c));

  it('the terminal table, cases.csv and both HTML tables show the same metrics in the same order', () => {
    const r = buildReport(CASES, META);
    const terminal = metricsOf(
      formatSummaryTable(r)
        .split('\n')[0]
        .split(/\s{2,}/),
    );
    const csv = metricsOf(casesToCsv(CASES).split('\n')[0].split(','));
    const html = renderHtmlReport(r, CASES);
    const headerRows = [...html.matchAll(/<tr>((?:<th>[^<]*<\/th>)+)<\/tr>/g)].map((m) =>
      metricsOf([...m[1].matchAll(/<th>([^<]*)<\/th>/g)].map((c) => c[1])),
    );
    expect(headerRows).toHaveLength(2);
    expect(csv).toEqual(['dice', 'jaccard', 'hd95', 'hd', 'asd', 'assd']);
    expect(terminal).toEqual(csv);
    for (const row of headerRows) expect(row).toEqual(csv);
  });
});

describe('files', () => {
  it('cases.csv: one row per case and class, quoted names, empty cells for missing values', () => {
    const csv = casesToCsv(CASES, { 1: 'RV', 2: 'Myo' }).trimEnd().split('\n');
    expect(csv).toHaveLength(5);
    expect(csv[1]).toBe('a,1,RV,0.8,0.6,2,3,1,1,10,10,0,strict,mm,,,0');
    expect(csv[4]).toBe('"b,""x""",2,Myo,0,0,,,,,0,10,1,strict,mm,,,0');
  });

  it('a class absent from prediction and label is missing everywhere, with a note; unexpected values warn', () => {
    const absent = cls(7, { dice: null, jaccard: null, predVoxels: 0, labelVoxels: 0 });
    const cases: CaseEvaluation[] = [
      caseOf('p', [cls(1, { dice: 0.8, jaccard: 0.6, hd95: 2, hd: 3, asd: 1, assd: 1 }), absent]),
      {
        ...caseOf('q', [cls(1, { dice: 0.6, jaccard: 0.4, hd95: 2, hd: 3, asd: 1, assd: 1 }), absent]),
        unexpectedPrediction: { values: [3, 9], voxels: 12 },
      },
    ];
    const r = buildReport(cases, { ...META, classNames: {} });
    expect(r.classes[1].metrics.dice).toEqual({ mean: null, std: null, count: 0, missing: 2 });
    expect(r.overall.dice.mean).toBeCloseTo(0.7, 12);
    expect(r.notes).toEqual([
      'class 7: absent from both prediction and label in every case (2); reported as missing and left out of the means',
    ]);
    expect(r.warnings).toEqual([
      'case q: the prediction holds values 3, 9 (12 voxels) that the label does not have and that are not scored; ignored',
    ]);
    expect(formatReportNotes(r)).toEqual([`note: ${r.notes[0]}`]);
    const table = formatSummaryTable(r).split('\n');
    expect(table[3]).toMatch(/^class 7(\s+missing){6}\s+2\s+2\s+2$/);
    const csv = casesToCsv(cases).trimEnd().split('\n');
    expect(csv[0]).toMatch(/,note,unexpected_values,unexpected_voxels$/);
    expect(csv[2]).toBe('p,7,,,,,,,,0,0,1,strict,mm,absent,,0');
    expect(csv[3]).toBe('q,1,,0.6,0.4,2,3,1,1,10,10,0,strict,mm,,3 9,12');
    const html = renderHtmlReport(r, cases);
    expect(html).toContain('note: class 7: absent from both prediction and label');
    expect(html).toContain('warning: case q: the prediction holds values 3, 9');
    expect(html).toContain('absent from prediction and label: missing');
    const some = buildReport([cases[0], caseOf('r', [cls(1, {}), cls(7, { dice: 0.5 })])], META);
    expect(some.notes[0]).toMatch(/^class 7: absent .* in 1 of 2 cases \(p\);/);
  });

  it('html escapes names, links overlays, and writeReportFiles writes all three files', async () => {
    const r = buildReport(CASES, META);
    const html = renderHtmlReport(
      r,
      CASES,
      new Map([
        [
          'a',
          [
            {
              file: 'overlays/a_z3.png',
              k: 3,
              kinds: ['largest label area' as const],
              labelVoxels: 5,
              disagreement: 1,
            },
          ],
        ],
      ]),
    );
    expect(html).toContain('b,&quot;x&quot;');
    expect(html).toContain('<img src="overlays/a_z3.png"');
    expect(html).not.toContain('<script');
    const dir = await tempDir('ssmis-report-');
    const files = await writeReportFiles(dir, r, CASES);
    expect(JSON.parse(readFileSync(files.summary, 'utf8')).classes[0].name).toBe('RV');
    expect(readFileSync(files.csv, 'utf8').split('\n')[0]).toMatch(/^case,class,class_name,dice/);
    expect(readFileSync(files.html, 'utf8')).toContain('model selection split: val');
  });

  it('refuses case ids that would leave the folder', () => {
    expect(() => safeFileStem('../x')).toThrow(/path separator/);
    expect(() => safeFileStem('..')).toThrow();
    expect(safeFileStem('case_01')).toBe('case_01');
  });
});

describe('overlays', () => {
  // 4 × 4 × 3 volume, row-major (k fastest).
  const shape: [number, number, number] = [4, 4, 3];
  const at = (i: number, j: number, k: number) => (i * 4 + j) * 3 + k;

  it('picks the slice with the largest label area and the one with the largest disagreement', () => {
    const label = new Uint8Array(48);
    const pred = new Uint8Array(48);
    for (const [i, j] of [
      [1, 1],
      [1, 2],
      [2, 1],
    ])
      label[at(i, j, 0)] = 1; // 3 px on k = 0
    for (const [i, j] of [
      [0, 0],
      [3, 3],
    ])
      label[at(i, j, 1)] = 1; // 2 px on k = 1
    for (const [i, j] of [
      [1, 1],
      [1, 2],
      [2, 1],
    ])
      pred[at(i, j, 0)] = 1;
    for (const [i, j] of [
      [0, 1],
      [1, 0],
      [2, 2],
    ])
      pred[at(i, j, 2)] = 1; // k = 2: 3 px disagree
    expect(representativeSlices(label, pred, shape)).toEqual([
      { k: 0, kinds: ['largest label area'], labelVoxels: 3, disagreement: 0 },
      { k: 2, kinds: ['largest disagreement'], labelVoxels: 0, disagreement: 3 },
    ]);
    expect(representativeSlices(label, label, shape)).toHaveLength(1);
  });

  it('draws grey image, green label contour, red prediction contour, yellow where both', () => {
    const image = new Float32Array(48);
    for (let v = 0; v < 48; v++) image[v] = v; // rising intensities
    const label = new Uint8Array(48);
    const pred = new Uint8Array(48);
    label[at(0, 0, 1)] = 1; // label only
    pred[at(3, 3, 1)] = 1; // prediction only
    label[at(1, 2, 1)] = 1;
    pred[at(1, 2, 1)] = 1; // both
    const { rgb, width, height } = renderOverlay({ image, channels: 1, label, pred, shape }, 1);
    const s = 16; // min(16, floor(256 / 4))
    expect([width, height]).toEqual([4 * s, 4 * s]);
    // Voxel (i, j) is drawn at column i·s, row (ny − 1 − j)·s.
    const px = (i: number, j: number) => {
      const o = ((3 - j) * s * width + i * s) * 3;
      return [rgb[o], rgb[o + 1], rgb[o + 2]];
    };
    expect(px(0, 0)).toEqual([0, 255, 0]);
    expect(px(3, 3)).toEqual([255, 0, 0]);
    expect(px(1, 2)).toEqual([255, 255, 0]);
    const g1 = px(0, 1);
    const g2 = px(3, 2);
    expect(g1[0]).toBe(g1[1]);
    expect(g2[0]).toBeGreaterThan(g1[0]); // brighter where the image is larger
  });

  it('writeCaseOverlays writes decodable PNG files under overlays/', async () => {
    const dir = await tempDir('ssmis-overlay-');
    const label = new Uint8Array(48);
    label[at(1, 1, 2)] = 1;
    const refs = await writeCaseOverlays(dir, 'case1', {
      image: new Float32Array(48),
      channels: 1,
      label,
      pred: new Uint8Array(48),
      shape,
    });
    expect(refs).toHaveLength(1);
    expect(refs[0]).toMatchObject({ file: 'overlays/case1_z2.png', k: 2 });
    const png = readFileSync(path.join(dir, refs[0].file));
    expect([...png.subarray(1, 4)]).toEqual([0x50, 0x4e, 0x47]);
    const idatLength = png.readUInt32BE(33);
    expect(png.subarray(37, 41).toString('latin1')).toBe('IDAT');
    expect(inflateSync(png.subarray(41, 41 + idatLength)).length).toBe(64 * (1 + 64 * 3));
  });
});
