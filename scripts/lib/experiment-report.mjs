// @ts-check
/**
 * The report of `scripts/experiment.mjs`, rendered from an experiment's record folder (plan.json, data.json,
 * runs/*.json, notes.md): tables under both protocols, paired differences over seeds with 95 % intervals,
 * per-run diagnostics, settings, data recipe and compute time. Pure (no I/O), so
 * `tests/scripts/experiment-report.test.ts` checks it on hand-made records.
 */
import { pairedDifference, seedsToDetect } from './experiment-stats.mjs';
import { mean, sampleStd } from './stats.mjs';

/**
 * @import { PairedDifference } from './experiment-stats.mjs'
 * @import { SynthDifficulty } from '../../src/index.js'
 * @import { PresetDataset } from '../../src/data/prepare/splits.js'
 */

/**
 * What decides an experiment's numbers: `plan.json` of the record folder, written by `scripts/experiment.mjs`.
 * @typedef {object} Plan
 * @property {number} version
 * @property {string} name
 * @property {PlanData} data
 * @property {PlanSettings} settings
 * @property {number[]} seeds
 * @property {string[]} methods rows, in the order of {@link ROWS}
 * @property {string | null} results where the report goes, relative to the repository (null: the record folder's)
 */
/**
 * The phantoms' recipe.
 * @typedef {{ dataset: PresetDataset, difficulty: SynthDifficulty, cases: number, size: number[], synthSeed: number, val: number }} PlanData
 */
/**
 * The training settings shared by every run.
 * @typedef {object} PlanSettings
 * @property {number} labeled
 * @property {number} baseFilters
 * @property {number} dropout
 * @property {number[]} patch
 * @property {number} batch
 * @property {number} lr
 * @property {number} pretrainIterations
 * @property {number} selftrainIterations
 * @property {number} validationInterval
 * @property {'train' | 'eval'} teacherMode
 * @property {string} backend as given (`--backend`); the library checks it
 */
/**
 * What the report reads of `data.json`: the fingerprint of the prepared labels, the split sizes, the true
 * foreground fraction of a training patch and of a volume.
 * @typedef {object} ReportData
 * @property {string} fingerprint
 * @property {{ train: number, labeled: number, unlabeled: number, val: number, test: number }} counts
 * @property {{ patch: number | null, volume: number | null }} trueForegroundFraction
 */
/**
 * Summary of a run's test metrics under one protocol: means over the test cases (null without any value), the
 * cases without distances and the empty predictions.
 * @typedef {object} ProtocolSummary
 * @property {number | null} dice
 * @property {number | null} jaccard
 * @property {number | null} hd95
 * @property {number | null} asd
 * @property {number} missing
 * @property {number} empty
 */
/** @typedef {'strict' | 'paper'} Protocol */
/**
 * One run's record, `runs/<id>.json`.
 * @typedef {object} RunRecord
 * @property {string} id
 * @property {'stage1' | 'stage2' | 'upper'} kind
 * @property {string} method
 * @property {number} seed
 * @property {string} planHash
 * @property {string} [finishedAt] ISO time (every record the script writes has it; the report does not read it)
 * @property {{ checkpoint: string, split: string, best: { dice: number, iteration: number } | null } | null} selection
 * @property {{ strict: ProtocolSummary, paper: ProtocolSummary, perCase: unknown[] }} test
 * @property {DiagnosticsSummary} diagnostics
 * @property {string | null} stage1Sha256
 * @property {RunTiming} timing
 * @property {{ cpuModel: string, logicalCpus: number, node: string }} machine
 * @property {{ commit: string, dirty: boolean } | null} [code] the code it was trained and scored with (records
 *   before 2026-11-30 lack it: those runs were trained by commit e61c0fc)
 * @property {{ active: string, tfjsVersion: string, fastKernels: boolean }} backend
 */
/**
 * @typedef {object} RunTiming
 * @property {{ pretrain: number | null, selftrain: number | null }} msPerIteration
 * @property {number | null} trainSeconds
 * @property {number | null} evalSeconds
 * @property {number} kernelThreads
 */
/**
 * @typedef {object} DiagnosticsSummary
 * @property {number} iterations
 * @property {number | null} pseudoForegroundFraction
 * @property {number | null} emptyPseudoLabelFraction
 * @property {number | null} reliableFraction
 */

/**
 * Rows of the tables, in order, with their display names.
 * @type {readonly (readonly [string, string])[]}
 */
export const ROWS = [
  ['stage1', 'stage 1 only (copy-paste pre-training, shared start of stage 2)'],
  ['supervised', 'supervised (few labels)'],
  ['mean-teacher', 'mean teacher'],
  ['bcp', 'BCP'],
  ['cpam', 'CPAM'],
  ['cpam-trcm', 'CPAM + TRCM'],
  ['fully-supervised', 'fully supervised (every training case labeled)'],
];
/** @type {Readonly<Record<string, string>>} */
const SHORT = {
  stage1: 'stage 1 only',
  supervised: 'supervised',
  'mean-teacher': 'mean teacher',
  bcp: 'BCP',
  cpam: 'CPAM',
  'cpam-trcm': 'CPAM + TRCM',
  'fully-supervised': 'fully supervised',
};

/**
 * The paired comparisons of the report: [a, b, what a − b measures].
 * @type {readonly (readonly [string, string, string])[]}
 */
export const COMPARISONS = [
  ['fully-supervised', 'supervised', 'headroom: what every label adds'],
  ['mean-teacher', 'supervised', 'unlabeled data, mean teacher'],
  ['bcp', 'supervised', 'unlabeled data, BCP'],
  ['cpam', 'supervised', 'unlabeled data, CPAM'],
  ['cpam-trcm', 'supervised', 'unlabeled data, CPAM + TRCM (the paper)'],
  ['cpam-trcm', 'bcp', 'the paper over BCP'],
  ['cpam', 'bcp', 'labeled–labeled and unlabeled–unlabeled mixes'],
  ['cpam-trcm', 'cpam', 'the TRCM reliability masks'],
  ['supervised', 'stage1', 'stage 2 on labels alone'],
];

/** The difference the design was chosen to detect, in Dice (fraction). */
export const TARGET_DIFFERENCE = 0.03;

/**
 * Per-run summary of the logged training rows of its own stage: mean pseudo-label foreground fraction, the
 * share of iterations whose pseudo-labels were empty, and the mean TRCM reliable fraction (null when the
 * method has no such quantity).
 * @param {readonly { diagnostics?: Readonly<Record<string, number>> }[]} rows
 * @returns {DiagnosticsSummary}
 */
export function summarizeDiagnostics(rows) {
  /** @param {string} key */
  const values = (key) =>
    rows
      .map((r) => r.diagnostics?.[key])
      .filter(
        /**
         * @param {number | undefined} v
         * @returns {v is number}
         */
        (v) => v !== undefined && v !== null && Number.isFinite(v),
      );
  const pseudo = values('pseudoForegroundFraction');
  const reliable = values('reliableFraction');
  return {
    iterations: rows.length,
    pseudoForegroundFraction: mean(pseudo),
    emptyPseudoLabelFraction:
      pseudo.length === 0 ? null : pseudo.filter((v) => v === 0).length / pseudo.length,
    reliableFraction: mean(reliable),
  };
}

/**
 * Value per seed of one metric of one row.
 * @param {readonly RunRecord[]} records
 * @param {string} method
 * @param {Protocol} protocol
 * @param {'dice' | 'jaccard' | 'hd95' | 'asd'} key
 * @returns {Map<number, number>}
 */
function perSeed(records, method, protocol, key) {
  const m = new Map();
  for (const r of records) {
    if (r.method !== method) continue;
    const v = r.test?.[protocol]?.[key];
    if (v != null) m.set(r.seed, v);
  }
  return m;
}

/**
 * @param {number | null | undefined} v
 * @param {number} scale
 * @param {number} [digits]
 */
function fmt(v, scale, digits = 2) {
  return v === null || v === undefined ? '–' : (v * scale).toFixed(digits);
}

/**
 * @param {readonly number[]} values
 * @param {number} scale
 */
function meanStd(values, scale) {
  const m = mean(values);
  if (m === null) return '–';
  const s = sampleStd(values);
  return values.length < 2 ? fmt(m, scale) : `${fmt(m, scale)} ± ${fmt(s, scale)}`;
}

/**
 * @param {number | null | undefined} v
 * @param {number} [scale]
 */
function signed(v, scale = 100) {
  if (v === null || v === undefined) return '–';
  const x = v * scale;
  return `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(2)}`;
}

/** @param {PairedDifference} d */
function interval(d) {
  if (d.n === 0) return '–';
  if (d.low === null) return `${signed(d.mean)} (one seed)`;
  return `${signed(d.mean)} [${signed(d.low)}, ${signed(d.high)}]`;
}

/** @param {PairedDifference} d */
function verdict(d) {
  if (d.low === null) return 'not enough seeds';
  if (d.low > 0) return 'greater than 0';
  if (d.high !== null && d.high < 0) return 'less than 0';
  return 'includes 0';
}

/**
 * @typedef {object} ReportInput
 * @property {Plan} plan
 * @property {ReportData | null} data `data.json`, null before the phantoms are described
 * @property {readonly RunRecord[]} records
 * @property {string | null} notes `notes.md`
 * @property {string} recordDir the record folder, relative to the report
 * @property {string} command the command that runs the experiment
 * @property {string | null} [difficultyPreset] the `synth --difficulty` preset the plan's knobs equal, if any
 */

/**
 * The whole report (markdown).
 * @param {ReportInput} input
 * @returns {string}
 */
export function renderExperimentReport(input) {
  const { plan, data, records, notes, recordDir } = input;
  const s = plan.settings;
  const d = plan.data;
  const rows = ROWS.filter(([m]) => records.some((r) => r.method === m));
  const planned =
    plan.seeds.length * (plan.methods.length + (plan.methods.some((m) => m !== 'fully-supervised') ? 1 : 0));
  /** @type {string[]} */
  const L = [];
  L.push(`# Results: ${plan.name} — does unlabeled data help?`);
  L.push('');
  if (plan.name === 'quick' || s.pretrainIterations < 20) {
    L.push(
      '> **Smoke configuration**: tiny data, network and iteration counts. These numbers only show that the machinery runs; they say nothing about the methods.',
    );
    L.push('');
  }
  L.push(
    `Rebuilt from the run records in \`${recordDir}/\` by \`${input.command} --report\`; the runs themselves come from \`${input.command}\` (resumable: it trains only what has no record yet). ${records.length} of ${planned} planned runs are recorded. Nothing here is copied from the paper.`,
  );
  L.push('');

  // Main tables.
  /**
   * @param {Protocol} protocol
   * @param {string} title
   * @param {string} note
   */
  const table = (protocol, title, note) => {
    L.push(`## ${title}`);
    L.push('');
    L.push(note);
    L.push('');
    const unit = protocol === 'paper' ? 'voxels' : 'mm';
    L.push(`| Row | Dice (%) | Jaccard (%) | HD95 (${unit}) | ASD (${unit}) | Seeds | Time / iteration |`);
    L.push('|---|---:|---:|---:|---:|---:|---:|');
    for (const [m, label] of rows) {
      /** @param {'dice' | 'jaccard' | 'hd95' | 'asd'} key */
      const v = (key) => [...perSeed(records, m, protocol, key).values()];
      const runs = records.filter((r) => r.method === m);
      const ms = mean(
        runs
          .map((r) => (m === 'stage1' ? r.timing.msPerIteration.pretrain : r.timing.msPerIteration.selftrain))
          .filter(
            /**
             * @param {number | null} x
             * @returns {x is number}
             */
            (x) => Boolean(x),
          ),
      );
      L.push(
        `| ${label} | ${meanStd(v('dice'), 100)} | ${meanStd(v('jaccard'), 100)} | ${meanStd(v('hd95'), 1)} | ${meanStd(v('asd'), 1)} | ${runs.length} | ${ms === null ? '–' : `${(ms / 1000).toFixed(2)} s`} |`,
      );
    }
    L.push('');
  };
  const nTest = data?.counts?.test ?? '?';
  table(
    'strict',
    'Test split, strict protocol',
    `Mean ± sample std over seeds; per seed, each metric is first averaged over the ${nTest} test cases. Strict: no post-processing; an empty prediction scores Dice 0 and its distances are left out (counted in the per-seed table). HD95 pooled over both directions, ASD prediction → label (medpy). Time = mean wall time of one iteration of the row's own stage (batch loading included).`,
  );
  table(
    'paper',
    'Test split, paper protocol',
    "The reference's test rule: the largest 26-connected component of the prediction is kept; an empty prediction scores 0 on every metric. Distances in voxels, as the reference reports them.",
  );

  // Paired differences.
  L.push('## Paired differences (Dice points)');
  L.push('');
  L.push(
    'Per seed, the difference of the two rows (both runs of a seed share the stage-1 model, the initial weights and the sampling order); mean over seeds with a two-sided 95 % Student-t interval, mean ± t(0.975, n−1)·s/√n. "Detectable" is the smallest true difference these seeds detect with 80 % power at the 5 % level, (t(0.975, n−1) + t(0.8, n−1))·s/√n with the observed spread s of the differences.',
  );
  L.push('');
  L.push(
    '| Comparison | What it measures | Strict: mean [95 % CI] | Paper: mean [95 % CI] | Seeds | Strict CI | Detectable (strict) |',
  );
  L.push('|---|---|---:|---:|---:|---|---:|');
  /** @type {Record<string, PairedDifference>} */
  const diffs = {};
  for (const [a, b, what] of COMPARISONS) {
    if (!rows.some(([m]) => m === a) || !rows.some(([m]) => m === b)) continue;
    const ds = pairedDifference(perSeed(records, a, 'strict', 'dice'), perSeed(records, b, 'strict', 'dice'));
    const dp = pairedDifference(perSeed(records, a, 'paper', 'dice'), perSeed(records, b, 'paper', 'dice'));
    diffs[`${a}|${b}`] = ds;
    L.push(
      `| ${SHORT[a]} − ${SHORT[b]} | ${what} | ${interval(ds)} | ${interval(dp)} | ${ds.n} | ${verdict(ds)} | ${ds.detectable === null ? '–' : fmt(ds.detectable, 100)} |`,
    );
  }
  L.push('');

  // Findings, computed.
  L.push('## What the numbers show');
  L.push('');
  for (const line of findings(diffs, records)) L.push(`- ${line}`);
  L.push('');
  if (notes) {
    L.push('## Interpretation');
    L.push('');
    L.push(notes.trim());
    L.push('');
  }

  // Diagnostics.
  L.push('## Diagnostics per row');
  L.push('');
  const trueFg = data?.trueForegroundFraction?.patch ?? null;
  L.push(
    `Means over seeds of each run's stage-2 (stage 1: its own) iterations. True foreground fraction of a ${s.patch.join('×')} training patch of the unlabeled cases (exact mean over every patch position): ${fmt(trueFg, 100)} %. Validation Dice: the best mean Dice on the ${data?.counts?.val ?? '?'} validation cases (no post-processing), which selected the evaluated checkpoint, and its iteration.`,
  );
  L.push('');
  L.push(
    '| Row | Pseudo-label foreground (%) | Iterations with empty pseudo-labels (%) | TRCM reliable fraction (%) | Best validation Dice (%) | Best iteration | Empty test predictions |',
  );
  L.push('|---|---:|---:|---:|---:|---:|---:|');
  for (const [m, label] of rows) {
    const runs = records.filter((r) => r.method === m);
    /** @param {(r: RunRecord) => number | null | undefined} f */
    const avg = (f) => mean(runs.map(f).filter((v) => v !== null && v !== undefined));
    L.push(
      `| ${label} | ${fmt(
        avg((r) => r.diagnostics?.pseudoForegroundFraction),
        100,
      )} | ${fmt(
        avg((r) => r.diagnostics?.emptyPseudoLabelFraction),
        100,
        1,
      )} | ${fmt(
        avg((r) => r.diagnostics?.reliableFraction),
        100,
        1,
      )} | ${fmt(
        avg((r) => r.selection?.best?.dice),
        100,
      )} | ${fmt(
        avg((r) => r.selection?.best?.iteration),
        1,
        0,
      )} | ${runs.reduce((a, r) => a + (r.test?.strict?.empty ?? 0), 0)} |`,
    );
  }
  L.push('');

  // Settings.
  const share = 0.99 ** s.selftrainIterations;
  L.push('## Settings');
  L.push('');
  L.push(
    `- Data: ${d.cases} synthetic LA-like phantoms, difficulty \`${typeof d.difficulty === 'string' ? d.difficulty : JSON.stringify(d.difficulty)}\`, ${d.size.join('×')} voxels, synth seed ${d.synthSeed}` +
      (data
        ? `: ${data.counts.labeled} labeled + ${data.counts.unlabeled} unlabeled training cases (${((100 * data.counts.labeled) / data.counts.train).toFixed(1)} % labeled; the paper's LA settings label 5 % and 10 %), ${data.counts.val} validation cases (model selection), ${data.counts.test} test cases. Every row and seed uses the same labeled cases (the first of the train split).`
        : '.'),
  );
  L.push(
    `- Model: VNet, ${s.baseFilters} base filters, Dropout3d ${s.dropout}; teacher forward in ${s.teacherMode} mode (the reference's); patch ${s.patch.join('×')}; batch ${s.batch} labeled + ${s.batch} unlabeled (two sub-batches of ${s.batch / 2} for the mixes; supervised rows use the labeled images only); SGD, momentum 0.9, weight decay 1e-4, learning rate ${s.lr} (stage 1 constant, stage 2 poly 0.9).`,
  );
  L.push(
    `- Budget: per seed, stage 1 (copy-paste pre-training on labeled pairs, ${s.pretrainIterations} iterations) runs once and every semi-supervised row and "supervised" continue that same model for ${s.selftrainIterations} stage-2 iterations, so they differ only in stage 2. "Fully supervised" trains both stages itself with every training case labeled. EMA decay 0.99: at the end of stage 2 the teacher holds 0.99^${s.selftrainIterations} = ${share >= 0.001 ? (share * 100).toFixed(1) : (share * 100).toPrecision(1)} % of the stage-1 weights. Mean teacher's consistency ramp-up: ${Math.max(1, Math.round(0.4 * s.selftrainIterations))} iterations (40 % of stage 2, the reference's 6000/15000).`,
  );
  L.push(
    `- Model selection: validation split, every ${s.validationInterval} iterations in both stages (mean Dice, no post-processing, windows without overlap; stage 2 starts from stage 1's best); the test split is used once, for the final evaluation. Sliding window of the test evaluation: patch ${s.patch.join('×')}, stride ${s.patch.map((p) => Math.max(1, Math.floor(p / 2))).join('×')}.`,
  );
  L.push(
    `- Seeds: ${plan.seeds.join(', ')} (\`train.seed\`: weight init, sampling, augmentation, cuboids, dropout).`,
  );
  L.push('');

  L.push('## Data recipe');
  L.push('');
  L.push(
    'The same phantoms, in the challenge layout used here and in the UA-MT h5 layout the reference PyTorch code reads:',
  );
  L.push('');
  const preset = typeof d.difficulty === 'string' ? d.difficulty : (input.difficultyPreset ?? null);
  const prepare = `npx ssmis prepare ${d.dataset} --raw raw --out dataset --seed ${d.synthSeed} --min-size ${s.patch.join(',')} --val ${d.val}`;
  if (preset !== null) {
    if (typeof d.difficulty !== 'string') {
      L.push(`The difficulty knobs of this plan are exactly those of the \`${preset}\` preset.`);
      L.push('');
    }
    const synth = `npx ssmis synth --dataset ${d.dataset} --difficulty ${preset} --cases ${d.cases} --size ${d.size.join(',')} --seed ${d.synthSeed}`;
    L.push('```sh', `${synth} --out raw`, prepare, `${synth} --format h5 --out raw-h5`, '```');
  } else {
    // Knobs that are no preset have no CLI spelling: the library call makes the same phantoms.
    L.push(
      "These difficulty knobs are no `synth --difficulty` preset; the library makes the same phantoms (add `format: 'h5'` for the UA-MT layout), then `prepare` reads them:",
    );
    L.push('');
    L.push(
      '```js',
      `await synthesize({ dataset: '${d.dataset}', difficulty: ${JSON.stringify(d.difficulty)}, cases: ${d.cases}, size: [${d.size.join(', ')}], seed: ${d.synthSeed}, out: 'raw' });`,
      '```',
      '',
      '```sh',
      prepare,
      '```',
    );
  }
  L.push('');
  if (data)
    L.push(`Fingerprint of the prepared labels: \`${data.fingerprint}\` (checked by every invocation).`);
  L.push('');

  // Compute and machine.
  const trainS = records.reduce(
    (a, r) => a + (r.timing?.trainSeconds ?? 0) + (r.timing?.evalSeconds ?? 0),
    0,
  );
  const machines = [
    ...new Set(
      records.map(
        (r) =>
          `${r.machine.cpuModel}, ${r.machine.logicalCpus} logical CPUs, Node ${r.machine.node}; TF.js ${r.backend.tfjsVersion} \`${r.backend.active}\`${r.backend.fastKernels ? ` with the fast kernels, ${r.timing.kernelThreads} thread(s) per run` : ''}`,
      ),
    ),
  ];
  L.push('## Compute');
  L.push('');
  L.push(
    `Compute time of the recorded runs (training, validation and test evaluation): ${(trainS / 3600).toFixed(2)} h. Machine(s): ${machines.join('; ') || '–'}.`,
  );
  const sd = diffs['cpam-trcm|supervised'];
  if (sd?.std) {
    const n = seedsToDetect(sd.std, TARGET_DIFFERENCE);
    L.push('');
    L.push(
      `Design check: with the observed spread of the CPAM + TRCM − supervised differences (s = ${fmt(sd.std, 100)} points), detecting a ${TARGET_DIFFERENCE * 100}-point difference with 80 % power needs ${n === null ? 'more than 200' : n} seeds; this record has ${sd.n}.`,
    );
  }
  L.push('');

  // Per seed.
  L.push('## Per run');
  L.push('');
  L.push(
    '| Row | Seed | Dice strict (%) | Dice paper (%) | HD95 strict | ASD strict | Missing distances | Selected | Train time |',
  );
  L.push('|---|---:|---:|---:|---:|---:|---:|---|---:|');
  const order = Object.fromEntries(ROWS.map(([m], i) => [m, i]));
  for (const r of [...records].sort((a, b) => order[a.method] - order[b.method] || a.seed - b.seed)) {
    L.push(
      `| ${SHORT[r.method] ?? r.method} | ${r.seed} | ${fmt(r.test.strict.dice, 100)} | ${fmt(r.test.paper.dice, 100)} | ${fmt(r.test.strict.hd95, 1)} | ${fmt(r.test.strict.asd, 1)} | ${r.test.strict.missing} | ${r.selection ? `${r.selection.checkpoint}${r.selection.best ? ` @ ${r.selection.best.iteration}` : ''}` : '–'} | ${r.timing.trainSeconds === null ? '–' : `${(r.timing.trainSeconds / 60).toFixed(1)} min`} |`,
    );
  }
  const mismatched = records.filter(
    (r) =>
      r.kind === 'stage2' &&
      records.some((s1) => s1.id === `stage1-s${r.seed}` && s1.stage1Sha256 !== r.stage1Sha256),
  );
  if (mismatched.length > 0) {
    L.push('');
    L.push(
      `Warning: ${mismatched.map((r) => r.id).join(', ')} started from a stage-1 model other than the recorded one (trained again on another machine).`,
    );
  }
  L.push('');
  return `${L.join('\n')}`;
}

/**
 * Plain statements computed from the paired differences; each says what the interval does and does not show.
 * @param {Readonly<Record<string, PairedDifference>>} diffs by `a|b`
 * @param {readonly RunRecord[]} records
 * @returns {string[]}
 */
export function findings(diffs, records) {
  const out = [];
  /**
   * @param {string} a
   * @param {string} b
   * @returns {PairedDifference | undefined}
   */
  const get = (a, b) => diffs[`${a}|${b}`];
  const head = get('fully-supervised', 'supervised');
  if (head && head.mean !== null) {
    out.push(
      `Headroom: every label adds ${signed(head.mean)} Dice points over the few-label supervised row${head.low === null ? '' : ` (95 % CI ${signed(head.low)} to ${signed(head.high)})`}; ${head.mean >= 0.1 ? 'at least the 10 points a semi-supervised benchmark needs' : 'less than the 10 points a semi-supervised benchmark needs, so this data cannot show much gain from unlabeled cases'}.`,
    );
  }
  for (const m of ['mean-teacher', 'bcp', 'cpam', 'cpam-trcm']) {
    const x = get(m, 'supervised');
    if (!x || x.mean === null) continue;
    const shown =
      x.low === null
        ? 'one seed, so no interval'
        : x.low > 0
          ? 'the interval excludes 0: the unlabeled cases helped'
          : x.high !== null && x.high < 0
            ? 'the interval lies below 0: the unlabeled cases, used this way, hurt'
            : `the interval includes 0: no effect is shown; the data are consistent with anything from a loss of ${fmt(-x.low, 100)} to a gain of ${fmt(x.high ?? 0, 100)} points`;
    out.push(`${SHORT[m]} vs supervised: ${signed(x.mean)} points; ${shown}.`);
  }
  const ordering = ['cpam-trcm', 'cpam', 'bcp', 'supervised'];
  const means = ordering.map((m) =>
    mean(
      records
        .filter((r) => r.method === m)
        .map((r) => r.test.strict.dice)
        // A run without a test case has no Dice: left out, not counted as 0.
        .filter((v) => v !== null),
    ),
  );
  if (means.every((v) => v !== null)) {
    const holds = means[0] >= means[1] && means[1] >= means[2] && means[2] > means[3];
    out.push(
      `The paper's ordering CPAM + TRCM ≥ CPAM ≥ BCP > supervised ${holds ? 'holds' : 'does not hold'} in the mean strict Dice (${ordering.map((m, i) => `${SHORT[m]} ${fmt(means[i], 100)}`).join(', ')})${holds ? '; the intervals above say which steps of it are resolved' : ''}.`,
    );
  }
  const tb = get('cpam-trcm', 'bcp');
  if (tb && tb.mean !== null) {
    out.push(
      `CPAM + TRCM vs BCP: ${signed(tb.mean)} points (${tb.low === null ? 'one seed' : `95 % CI ${signed(tb.low)} to ${signed(tb.high)}, ${verdict(tb)}`}).`,
    );
  }
  return out;
}
