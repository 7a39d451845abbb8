// @ts-check
/**
 * The experiment's test evaluation of a selected model: every test case inferred once and scored under both
 * protocols with the library's `inferVolume` and `evaluateCase`, and the SHA-256 of a checkpoint's weights (what
 * tells whether two runs started stage 2 from the same stage-1 model).
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { mean } from './stats.mjs';

/**
 * @import { SsmisConfig } from '../../src/index.js'
 * @import { InferenceModel } from '../../src/infer/sliding-window.js'
 * @import { Dataset } from '../../src/data/dataset.js'
 */
/** @typedef {typeof import('../../src/index.js')} Lib the library, as `loadDist('index.js')` gives it */

/**
 * SHA-256 of a safetensors checkpoint's weights: tensor names, dtypes, shapes and bytes, without the metadata
 * (which holds a random checkpoint id), so that the same weights trained twice hash the same.
 * @param {string} file
 */
export async function weightsSha256(file) {
  const bytes = await fs.readFile(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  /** @type {Record<string, unknown>} a safetensors header: an object by tensor name */
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
  delete header.__metadata__;
  const names = Object.keys(header).sort();
  return createHash('sha256')
    .update(JSON.stringify(names.map((n) => [n, header[n]])))
    .update(bytes.subarray(8 + headerLength))
    .digest('hex');
}

/**
 * Scores every test case once per protocol: `strict`, and `paper` (largest 26-connected component).
 * @param {Lib} lib
 * @param {{ model: InferenceModel, dataset: Dataset, config: SsmisConfig }} context the selected model
 * @param {readonly string[]} ids
 */
export async function evaluateBothProtocols(lib, context, ids) {
  const { model, dataset, config } = context;
  /** @typedef {Pick<import('../../src/eval/protocol.js').ClassMetrics, 'dice' | 'jaccard' | 'hd95' | 'asd' | 'predVoxels'>} CaseScore */
  /** @type {{ id: string, strict: CaseScore, paper: CaseScore }[]} */
  const perCase = [];
  for (const id of ids) {
    const c = await dataset.loadCase(id);
    const result = await lib.inferVolume(
      model,
      { data: c.image, shape: [...c.shape, c.channels] },
      { patch: config.eval.patch, strides: config.eval.strides },
    );
    /**
     * @param {'strict' | 'paper'} protocol
     * @param {false | 26} largestComponent
     */
    const score = (protocol, largestComponent) => {
      const k = lib.evaluateCase(result.labels, c.label, c.shape, {
        protocol,
        // The paper protocol measures distances in voxels, as the reference's test script.
        units: protocol === 'paper' ? 'voxel' : 'mm',
        spacing: c.spacing,
        classes: [1],
        largestComponent,
        caseId: id,
      }).classes[0];
      return { dice: k.dice, jaccard: k.jaccard, hd95: k.hd95, asd: k.asd, predVoxels: k.predVoxels };
    };
    perCase.push({ id, strict: score('strict', false), paper: score('paper', 26) });
  }
  /**
   * @param {'strict' | 'paper'} protocol
   * @returns {import('./experiment-report.mjs').ProtocolSummary}
   */
  const summary = (protocol) => {
    const rows = perCase.map((p) => p[protocol]);
    /** @param {'dice' | 'jaccard' | 'hd95' | 'asd'} key */
    const avg = (key) => mean(rows.map((r) => r[key]).filter((x) => x !== null && x !== undefined));
    return {
      dice: avg('dice'),
      jaccard: avg('jaccard'),
      hd95: avg('hd95'),
      asd: avg('asd'),
      missing: rows.filter((r) => r.hd95 === null).length,
      empty: rows.filter((r) => r.predVoxels === 0).length,
    };
  };
  return {
    strict: summary('strict'),
    paper: summary('paper'),
    perCase: perCase.map((p) => ({
      id: p.id,
      strict: { dice: p.strict.dice, hd95: p.strict.hd95, asd: p.strict.asd },
      paper: { dice: p.paper.dice, hd95: p.paper.hd95, asd: p.paper.asd },
    })),
  };
}
