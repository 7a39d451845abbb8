/**
 * Pure rendering of the experiment's `docs/results.md` (issue 8): per-method mean ± std over seeds, the
 * auto-generated findings paragraph, and the run description. No I/O, so `tests/scripts/report.test.ts` can
 * check it on hand-made inputs.
 */
import { mean, sampleStd } from './stats.mjs';

/** The table's metrics, in order; `higher` says which direction is better. */
export const RESULT_METRICS = [
  { key: 'dice', label: 'Dice (%)', higher: true, scale: 100, digits: 2 },
  { key: 'jaccard', label: 'Jaccard (%)', higher: true, scale: 100, digits: 2 },
  { key: 'hd95', label: 'HD95', higher: false, scale: 1, digits: 2 },
  { key: 'asd', label: 'ASD', higher: false, scale: 1, digits: 2 },
];

/** Display names of the methods. */
export const METHOD_LABELS = {
  'stage1-only': 'stage 1 only (copy-paste pre-training)',
  supervised: 'supervised',
  'mean-teacher': 'mean teacher',
  bcp: 'BCP',
  cpam: 'CPAM',
  'cpam-trcm': 'CPAM + TRCM',
};

/**
 * @typedef {{ dice: number | null, jaccard: number | null, hd95: number | null, asd: number | null }} RunMetrics
 * @typedef {{ seed: number, metrics: RunMetrics, missing?: Record<string, number>, emptyPredictions?: number,
 *   msPerIteration?: { pretrain?: number | null, selftrain?: number | null }, wallSeconds?: number | null }} RunResult
 * @typedef {{ method: string, runs: RunResult[] }} MethodResults
 * @typedef {{ mean: number | null, std: number | null, n: number }} SeedStat
 * @typedef {{ method: string, seeds: number, metrics: Record<string, SeedStat>, msPerIteration: { pretrain: number | null, selftrain: number | null },
 *   emptyPredictions: number, missingDistances: number }} MethodSummary
 */

/**
 * Mean ± sample std over seeds of each metric (seeds whose value is null, i.e. every test case had a missing
 * distance, are left out and `n` says how many were used), the mean time per iteration and the total count of
 * empty predictions / missing distances over seeds.
 * @param {MethodResults} results
 * @returns {MethodSummary}
 */
export function summarizeMethod(results) {
  const metrics = {};
  for (const { key } of RESULT_METRICS) {
    const values = results.runs.map((r) => r.metrics[key]).filter((v) => v !== null && v !== undefined);
    metrics[key] = { mean: mean(values), std: sampleStd(values), n: values.length };
  }
  const times = (stage) => {
    const v = results.runs.map((r) => r.msPerIteration?.[stage]).filter((x) => x !== null && x !== undefined);
    return mean(v);
  };
  return {
    method: results.method,
    seeds: results.runs.length,
    metrics,
    msPerIteration: { pretrain: times('pretrain'), selftrain: times('selftrain') },
    emptyPredictions: results.runs.reduce((a, r) => a + (r.emptyPredictions ?? 0), 0),
    missingDistances: results.runs.reduce((a, r) => a + (r.missing?.hd95 ?? 0), 0),
  };
}

/**
 * `mean ± std` with a fixed number of digits after scaling (`–` when there is no value).
 * @param {SeedStat} stat
 * @param {number} scale
 * @param {number} digits
 * @returns {string}
 */
export function formatMeanStd(stat, scale = 1, digits = 2) {
  if (stat.mean === null) return '–';
  const m = (stat.mean * scale).toFixed(digits);
  if (stat.n < 2 || stat.std === null) return m;
  return `${m} ± ${(stat.std * scale).toFixed(digits)}`;
}

/**
 * How a difference between two methods compares to their seed-to-seed spread: `clear` when it exceeds the sum
 * of both sample stds (the ±1 std intervals do not overlap), `within` when it is below the larger std,
 * `comparable` in between, `unknown` with fewer than two seeds on either side. A rough, stated rule: with 3
 * seeds no formal test has useful power.
 * @param {SeedStat} a
 * @param {SeedStat} b
 * @returns {'clear' | 'comparable' | 'within' | 'unknown'}
 */
export function compareToSpread(a, b) {
  if (a.mean === null || b.mean === null || a.n < 2 || b.n < 2) return 'unknown';
  const diff = Math.abs(a.mean - b.mean);
  if (diff > a.std + b.std) return 'clear';
  if (diff < Math.max(a.std, b.std)) return 'within';
  return 'comparable';
}

const SPREAD_TEXT = {
  clear: 'larger than the seed-to-seed spread (the ±1 std intervals do not overlap)',
  comparable: 'of the order of the seed-to-seed spread',
  within: 'within the seed-to-seed spread, so not distinguishable with these seeds',
  unknown: 'not comparable to a spread (fewer than two seeds)',
};

function label(method) {
  return METHOD_LABELS[method] ?? method;
}

function capitalized(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function points(delta) {
  const p = delta * 100;
  return `${p >= 0 ? '+' : '−'}${Math.abs(p).toFixed(2)}`;
}

/**
 * The findings paragraph: the best method by mean Dice, every semi-supervised method against `supervised`
 * (Dice points and whether that exceeds the seed spread), what CPAM adds over BCP and TRCM over CPAM, whether
 * HD95 agrees with Dice, and the cost per iteration. Only facts computed from the summaries: it states what
 * the numbers show and never why.
 * @param {MethodSummary[]} summaries trained methods (not the stage-1-only row)
 * @returns {string[]} sentences
 */
export function describeFindings(summaries) {
  const sentences = [];
  const withDice = summaries.filter((s) => s.metrics.dice.mean !== null);
  if (withDice.length === 0) return ['No run produced a Dice value.'];
  const by = (m) => summaries.find((s) => s.method === m);
  const best = withDice.reduce((a, b) => (b.metrics.dice.mean > a.metrics.dice.mean ? b : a));
  const sup = by('supervised');
  const oneSeed = summaries.every((s) => s.metrics.dice.n < 2);
  // With a single seed there is no spread: say so once instead of after every comparison.
  const spread = (a, b) => (oneSeed ? '' : `, ${SPREAD_TEXT[compareToSpread(a, b)]}`);
  sentences.push(
    `${capitalized(label(best.method))} has the highest mean Dice (${formatMeanStd(best.metrics.dice, 100, 2)} %).`,
  );
  if (oneSeed) {
    sentences.push('With one seed there is no seed-to-seed spread, so no difference below can be judged.');
  }
  if (sup && sup.metrics.dice.mean !== null) {
    const semi = withDice.filter((s) => s.method !== 'supervised');
    const better = semi.filter((s) => s.metrics.dice.mean > sup.metrics.dice.mean);
    for (const s of semi) {
      const d = s.metrics.dice.mean - sup.metrics.dice.mean;
      sentences.push(
        `${capitalized(label(s.method))} vs supervised: ${points(d)} Dice points${spread(s.metrics.dice, sup.metrics.dice)}.`,
      );
    }
    if (semi.length > 0 && better.length === 0) {
      sentences.push(
        'No semi-supervised method beats the supervised baseline here: the unlabeled cases did not help in this setting (candidates to check: learning rate, iteration budget, pseudo-label rule, data difficulty).',
      );
    } else if (semi.length > 0) {
      const clear = better.filter((s) => compareToSpread(s.metrics.dice, sup.metrics.dice) === 'clear');
      if (!oneSeed) {
        sentences.push(
          clear.length > 0
            ? `A gain from the unlabeled cases beyond the seed spread is shown by: ${clear.map((s) => label(s.method)).join(', ')}.`
            : 'No gain over supervised exceeds the seed-to-seed spread, so these seeds do not establish that the unlabeled cases help.',
        );
      }
    }
  }
  const pairs = [
    ['cpam', 'bcp', 'CPAM over BCP (the unlabeled–unlabeled and labeled–labeled mixes)'],
    ['cpam-trcm', 'cpam', 'TRCM over CPAM (the reliability masks)'],
  ];
  for (const [a, b, what] of pairs) {
    const sa = by(a);
    const sb = by(b);
    if (!sa || !sb || sa.metrics.dice.mean === null || sb.metrics.dice.mean === null) continue;
    const d = sa.metrics.dice.mean - sb.metrics.dice.mean;
    sentences.push(`${what}: ${points(d)} Dice points${spread(sa.metrics.dice, sb.metrics.dice)}.`);
  }
  const withHd = summaries.filter((s) => s.metrics.hd95.mean !== null);
  if (withHd.length > 0) {
    const bestHd = withHd.reduce((a, b) => (b.metrics.hd95.mean < a.metrics.hd95.mean ? b : a));
    sentences.push(
      bestHd.method === best.method
        ? `${capitalized(label(best.method))} also has the lowest HD95.`
        : `The lowest HD95 belongs to ${label(bestHd.method)} (${formatMeanStd(bestHd.metrics.hd95, 1, 2)}), not to the best-Dice method.`,
    );
  }
  const empties = summaries.filter((s) => s.emptyPredictions > 0);
  if (empties.length > 0) {
    sentences.push(
      `Empty predictions (scored Dice 0, distances missing under the strict protocol): ${empties.map((s) => `${label(s.method)} ${s.emptyPredictions}`).join(', ')} over all seeds.`,
    );
  }
  if (sup?.msPerIteration.selftrain) {
    const costs = summaries
      .filter((s) => s.method !== 'supervised' && s.msPerIteration.selftrain)
      .map(
        (s) =>
          `${label(s.method)} ${(s.msPerIteration.selftrain / sup.msPerIteration.selftrain).toFixed(2)}×`,
      );
    if (costs.length > 0) {
      sentences.push(`Cost of a stage-2 iteration relative to supervised: ${costs.join(', ')}.`);
    }
  }
  return sentences;
}

/**
 * @typedef {{ command: string, createdAt: string, quick: boolean,
 *   machine: { cpuModel: string, logicalCpus: number, totalMemoryGiB: number, node: string, platform: string },
 *   backend: { active: string, tfjsVersion: string, fastKernels: boolean, kernelWorkers: number },
 *   setup: { totalCases: number, labeled: number, unlabeled: number, test: number, synthSize: number[], synthSeed: number,
 *     patch: number[], baseFilters: number, seeds: number[], pretrainIterations: number, selftrainIterations: number,
 *     lr: number, batch: { labeled: number, unlabeled: number }, rampupIterations: number, baselinesFromScratch: boolean,
 *     evalPatch: number[], evalStrides: number[], units: string, computeMinutes: number | null },
 *   stage1?: MethodResults | null, methods: MethodResults[] }} ResultsInput
 */

function msText(ms) {
  return ms === null || ms === undefined ? '–' : `${(ms / 1000).toFixed(2)} s`;
}

/**
 * The whole `docs/results.md`.
 * @param {ResultsInput} input
 * @returns {string}
 */
export function renderResultsMarkdown(input) {
  const { setup, machine, backend } = input;
  const summaries = input.methods.map(summarizeMethod);
  const stage1 = input.stage1 && input.stage1.runs.length > 0 ? summarizeMethod(input.stage1) : null;
  const unit = setup.units === 'voxel' ? 'voxels' : setup.units;
  const lines = [];
  lines.push('# Results: semi-supervised gain on synthetic LA-like phantoms');
  lines.push('');
  if (input.quick) {
    lines.push(
      '> **Smoke configuration (`--quick`)**: one seed and a handful of iterations. These numbers only show that the pipeline runs; they say nothing about the methods.',
    );
    lines.push('');
  }
  lines.push(
    `Generated by \`scripts/experiment.mjs\` on ${input.createdAt.slice(0, 10)}. Every number below comes from the runs of this command; nothing is copied from the paper.`,
  );
  lines.push('');
  lines.push('## Table');
  lines.push('');
  const seedsText =
    setup.seeds.length === 1 ? '1 seed' : `mean ± sample std over ${setup.seeds.length} seeds`;
  lines.push(
    `Test split (${setup.test} held-out cases), ${seedsText}; per seed, each metric is first averaged over the test cases. HD95 and ASD in ${unit}. Time = mean wall time of one stage-2 training iteration (batch loading included).`,
  );
  lines.push('');
  const header = ['Method', ...RESULT_METRICS.map((m) => m.label), 'Time / iteration', 'Empty preds'];
  lines.push(`| ${header.join(' | ')} |`);
  lines.push(`|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`);
  const row = (s, time) =>
    `| ${label(s.method)} | ${RESULT_METRICS.map((m) => formatMeanStd(s.metrics[m.key], m.scale, m.digits)).join(' | ')} | ${time} | ${s.emptyPredictions} |`;
  if (stage1) lines.push(row(stage1, `${msText(stage1.msPerIteration.pretrain)} (stage 1)`));
  for (const s of summaries) lines.push(row(s, msText(s.msPerIteration.selftrain)));
  lines.push('');
  const missing = summaries.filter((s) => s.missingDistances > 0);
  if (missing.length > 0) {
    lines.push(
      `Distances are left out where a prediction was empty (${missing.map((s) => `${label(s.method)}: ${s.missingDistances} case(s)`).join(', ')}), so those HD95/ASD means cover fewer cases.`,
    );
    lines.push('');
  }
  lines.push('## What the numbers show');
  lines.push('');
  lines.push(describeFindings(summaries).join(' '));
  lines.push('');
  lines.push('## Protocol');
  lines.push('');
  lines.push(
    `- Data: ${setup.totalCases} synthetic LA-like phantoms (\`synthesize({ dataset: 'la', size: [${setup.synthSize.join(', ')}], seed: ${setup.synthSeed} })\` → \`prepareDataset\`): ${setup.labeled} labeled + ${setup.unlabeled} unlabeled training cases, ${setup.test} held-out test cases. Every method and seed uses the same labeled cases.`,
  );
  lines.push(
    `- Model: VNet with ${setup.baseFilters} base filters, dropout ${setup.dropout ?? 0.5}, teacher forward in ${setup.teacherMode ?? 'train'} mode; patch ${setup.patch.join('×')}; batch ${setup.batch.labeled} labeled + ${setup.batch.unlabeled} unlabeled (supervised and stage 1 use the labeled images only); SGD (momentum 0.9, weight decay 1e-4), learning rate ${setup.lr} (stage 1 constant, stage 2 poly 0.9).`,
  );
  if (setup.baselinesFromScratch) {
    lines.push(
      `- Budget: the copy-paste methods (BCP, CPAM, CPAM + TRCM) get stage 1 (copy-paste pre-training on labeled pairs, ${setup.pretrainIterations} iterations) then ${setup.selftrainIterations} stage-2 iterations; supervised and mean teacher train from scratch for the same total of ${setup.pretrainIterations + setup.selftrainIterations} iterations.`,
    );
  } else {
    lines.push(
      `- Budget and fairness: every method starts stage 2 from the same stage-1 model of its seed (copy-paste pre-training on the labeled pairs, ${setup.pretrainIterations} iterations, run once per seed and shared), then trains ${setup.selftrainIterations} stage-2 iterations with its own method. The methods therefore differ only in stage 2, and the supervised row is the labeled-only continuation with the same compute budget; the "stage 1 only" row is that shared starting model.`,
    );
  }
  lines.push(
    `- Seeds: ${setup.seeds.join(', ')} (\`train.seed\`: weight init, sampling, augmentation, cuboids, dropout). Mean teacher: consistency ramp-up over ${setup.rampupIterations} iterations (40 % of stage 2, the reference's 6000/15000 ratio).`,
  );
  lines.push(
    `- Model selection: none (\`train.validation.split: none\`); the final weights of each run are evaluated, so the test split is never used for selection.`,
  );
  lines.push(
    `- Evaluation: \`strict\` protocol (an empty prediction scores Dice 0 with its distances reported missing; no largest-component post-processing), sliding window with patch ${setup.evalPatch.join('×')} and strides ${setup.evalStrides.join('×')}, HD95 and ASD (directed prediction → label, as medpy \`asd\`) in ${unit}, medpy-compatible metrics.`,
  );
  lines.push('');
  lines.push('## Command');
  lines.push('');
  lines.push('```sh');
  lines.push('npm run build');
  lines.push(input.command);
  lines.push('```');
  lines.push('');
  lines.push('## Machine');
  lines.push('');
  lines.push(
    `${machine.cpuModel}, ${machine.logicalCpus} logical CPUs, ${machine.totalMemoryGiB} GiB RAM, ${machine.platform}; Node ${machine.node}; TF.js ${backend.tfjsVersion}, backend \`${backend.active}\`${backend.active === 'cpu' ? `, fast CPU kernels ${backend.fastKernels ? `on (${backend.kernelWorkers} worker thread(s))` : 'off'}` : ''}.` +
      (setup.computeMinutes === null
        ? ''
        : ` Compute time of all runs (training + evaluation, stage 1 counted once per seed): ${setup.computeMinutes.toFixed(0)} min.`),
  );
  lines.push('');
  lines.push('## Per seed');
  lines.push('');
  lines.push('| Method | Seed | Dice (%) | Jaccard (%) | HD95 | ASD | Time / iteration |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|');
  const perSeed = (m, r, stage) => {
    const f = (v, scale) => (v === null || v === undefined ? '–' : (v * scale).toFixed(2));
    lines.push(
      `| ${label(m)} | ${r.seed} | ${f(r.metrics.dice, 100)} | ${f(r.metrics.jaccard, 100)} | ${f(r.metrics.hd95, 1)} | ${f(r.metrics.asd, 1)} | ${msText(r.msPerIteration?.[stage])} |`,
    );
  };
  if (stage1) for (const r of input.stage1.runs) perSeed('stage1-only', r, 'pretrain');
  for (const m of input.methods) for (const r of m.runs) perSeed(m.method, r, 'selftrain');
  lines.push('');
  return `${lines.join('\n')}`;
}

/**
 * Mean time of one iteration per stage from a run's `metrics.csv`. Each logged row holds the mean time of the
 * iterations since the previous row of its stage, so rows are weighted by that count (the last window of a
 * stage may be shorter than the log interval).
 * @param {string} csv
 * @returns {{ pretrain: number | null, selftrain: number | null }}
 */
export function msPerIterationFromCsv(csv) {
  const lines = csv.split(/\r?\n/).filter((l) => l.trim().length > 0);
  if (lines.length === 0) return { pretrain: null, selftrain: null };
  const header = lines[0].split(',');
  const col = (name) => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`metrics.csv: no column '${name}' in the header ${lines[0]}`);
    return i;
  };
  const [cStage, cIter, cMs] = [col('stage'), col('iteration'), col('ms_per_iteration')];
  const acc = { pretrain: { ms: 0, n: 0, last: 0 }, selftrain: { ms: 0, n: 0, last: 0 } };
  for (const line of lines.slice(1)) {
    const cells = line.split(',');
    const a = acc[cells[cStage]];
    const iteration = Number(cells[cIter]);
    const ms = Number(cells[cMs]);
    if (a === undefined || cells[cMs] === '' || !Number.isFinite(ms) || !(iteration > a.last)) continue;
    const count = iteration - a.last;
    a.ms += ms * count;
    a.n += count;
    a.last = iteration;
  }
  return {
    pretrain: acc.pretrain.n > 0 ? acc.pretrain.ms / acc.pretrain.n : null,
    selftrain: acc.selftrain.n > 0 ? acc.selftrain.ms / acc.selftrain.n : null,
  };
}
