#!/usr/bin/env node
// @ts-check
/**
 * The semi-supervised experiment: does unlabeled data help, measured with paired confidence intervals over seeds.
 * Runs against the compiled library in `dist/` (`npm run build` first). The training goes through the library's
 * sweep (`ssmis sweep`: rows × seeds, local runner, resumable); this script keeps what is the experiment's own:
 * the data recipe, the record folder and its rows, and the second test protocol.
 *
 * An experiment has a name and a record folder, `docs/experiments/<name>/`, that is committed as it grows:
 *   plan.json        what decides the numbers (data recipe, settings, seeds, methods); fixed once written,
 *                    except that seeds and methods may be added
 *   data.json        what the phantoms were (split sizes, ids, true foreground fraction of a training patch)
 *   runs/<id>.json   one small file per finished run (test metrics under both protocols, per case, selection,
 *                    diagnostics, timing); a run whose file exists is never trained again
 *   notes.md         optional hand-written interpretation, copied into the report
 * The heavy files live in the work folder `runs/experiments/<name>/` (not committed): `data/` (the phantoms),
 * `sweep-base.yaml` + `sweep.yaml` (the sweep: base config, one row per method, the seeds; `ssmis sweep --file`
 * runs it too, e.g. with `--slurm`), and `sweep/` (the sweep folder: `configs/`, `runs/<run>/`, `logs/<run>.log`).
 * An interrupted invocation, or a later one on a fresh clone, continues where the last stopped: recorded runs are
 * left out of the sweep, finished run folders are recorded without training, interrupted ones resume from their
 * `last` checkpoint.
 *
 * Rows (methods): `stage1` trains stage 1 alone (copy-paste pre-training on labeled pairs); each of
 * `supervised`, `mean-teacher`, `bcp`, `cpam`, `cpam-trcm` trains stage 1 and then its own stage 2, and
 * `fully-supervised` (the upper bound) trains both stages with every training case labeled. Stage 1 is the same
 * computation in every row of a seed (same step, seed, data and streams), so each row trains it itself instead of
 * waiting for a shared one; the SHA-256 of its selected stage-1 weights is recorded per run (`stage1Sha256`) and
 * checked equal across the rows of a seed. Model selection on the validation split; the test split is only used
 * for the final evaluation, scored under both protocols (`strict`; `paper`, with the largest connected component).
 *
 * Usage: node scripts/experiment.mjs [options]
 *   --name NAME                experiment name (required except with --quick): record docs/experiments/NAME
 *   --seeds N | a,b-c,..       seeds 1..N, or a list and ranges as `ssmis sweep --seeds` reads them
 *                              (default 5; may grow between invocations)
 *   --methods a,b              rows (default all: supervised,mean-teacher,bcp,cpam,cpam-trcm,fully-supervised)
 *                              Seeds and rows given are added to the plan, and this invocation trains only their
 *                              unrecorded runs, with the stage-1 row of those seeds (without them: every
 *                              unrecorded run of the plan)
 *   --jobs N                   runs trained at once, each its own `ssmis train` process (default: logical CPUs,
 *                              at most 2); kernel threads per run = logical CPUs / N
 *   --estimate                 print the estimated compute time of what is left (from the recorded runs) and stop
 *   --report                   only rebuild the report from the record folder (no training)
 *   --quick                    smoke configuration (tiny data and network, 2 seeds, a few iterations;
 *                              its record goes to runs/experiments/quick/record, not docs/)
 *   --record DIR | --work DIR  override the record folder / work folder
 *   --results FILE             where the report goes (default: plan's, docs/experiments/NAME/results.md)
 *  plan options (only when the plan is created; afterwards they must match plan.json):
 *   --difficulty standard|hard|scarce|JSON-knobs --cases N --size X,Y,Z --synth-seed N --val N --labeled N
 *   --base-filters N --dropout X --patch N|X,Y,Z --batch N (labeled = unlabeled) --lr X
 *   --iterations-pretrain N --iterations-selftrain N --validation-interval N --teacher-mode train|eval
 *   --backend NAME
 * Ctrl-C (or SIGTERM) stops after the current iteration of each run (their `last` checkpoints are written);
 * run the same command again to continue.
 */
import { createHash } from 'node:crypto';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify as toYaml } from 'yaml';
import { describeData } from './lib/experiment-data.mjs';
import { evaluateBothProtocols, weightsSha256 } from './lib/experiment-eval.mjs';
import { renderExperimentReport, summarizeDiagnostics } from './lib/experiment-report.mjs';
import { codeVersion, loadDist, machineInfo, setupBackend } from './lib/runtime.mjs';
import { mean } from './lib/stats.mjs';

/**
 * @import { Plan, PlanData, PlanSettings, RunRecord } from './lib/experiment-report.mjs'
 * @import { SweepPlan, SweepRow, SweepRun } from '../src/sweep/plan.js'
 * @import { LocalSweepEvent } from '../src/sweep/local.js'
 */
/** @typedef {typeof import('../src/index.js')} Lib the library, as `loadDist('index.js')` gives it */
/**
 * One run of the plan: a row (stage 1 alone, a method, or the upper bound) and a seed.
 * @typedef {object} Run
 * @property {string} id `<row>-s<seed>`, the record file's name
 * @property {RunRecord['kind']} kind
 * @property {string} method the row
 * @property {number} seed
 */
/** @typedef {import('./lib/experiment-data.mjs').DataInfo} DataInfo */
/** @typedef {Awaited<ReturnType<typeof evaluateBothProtocols>>} TestEvaluation */
/**
 * The plan options of the command line (all strings as typed).
 * @typedef {'difficulty' | 'cases' | 'size' | 'synth-seed' | 'val' | 'labeled' | 'base-filters' | 'dropout' | 'patch' | 'batch' | 'lr' | 'iterations-pretrain' | 'iterations-selftrain' | 'validation-interval' | 'teacher-mode' | 'backend'} PlanOption
 */
/** @typedef {{ data: Partial<PlanData>, settings: Partial<PlanSettings> }} PlanOverrides */
/** @typedef {ReturnType<typeof parseOptions>} ParsedOptions */
/** @typedef {Extract<ParsedOptions, { help: false }>} Options */

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const STAGE2_METHODS = ['supervised', 'mean-teacher', 'bcp', 'cpam', 'cpam-trcm'];
const ALL_METHODS = [...STAGE2_METHODS, 'fully-supervised'];
const PLAN_VERSION = 1;

class UsageError extends Error {}

/**
 * The experiment's design as shipped: the settings the record was made with unless the plan says otherwise.
 * @type {{ data: PlanData, settings: PlanSettings }}
 */
const DEFAULT_PLAN = {
  data: { dataset: 'la', difficulty: 'scarce', cases: 100, size: [64, 64, 40], synthSeed: 2024, val: 8 },
  settings: {
    labeled: 4,
    baseFilters: 8,
    dropout: 0.5,
    patch: [32, 32, 32],
    batch: 4,
    lr: 0.01,
    pretrainIterations: 300,
    selftrainIterations: 1000,
    validationInterval: 100,
    teacherMode: 'train',
    backend: 'auto',
  },
};

/**
 * Tiny everything: the suite runs it to check the machinery, never the methods.
 * @type {{ data: PlanData, settings: PlanSettings }}
 */
const QUICK_PLAN = {
  data: { dataset: 'la', difficulty: 'hard', cases: 14, size: [40, 40, 24], synthSeed: 7, val: 2 },
  settings: {
    labeled: 4,
    baseFilters: 2,
    dropout: 0.5,
    patch: [16, 16, 16],
    batch: 4,
    lr: 0.01,
    pretrainIterations: 3,
    selftrainIterations: 3,
    validationInterval: 2,
    teacherMode: 'train',
    backend: 'cpu',
  },
};

/**
 * @param {string} value
 * @param {string} name the option, without `--`
 */
function positiveInt(value, name) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`--${name}: expected a positive integer, got ${value}`);
  return n;
}

/**
 * @param {string} text
 * @param {string} name the option, without `--`
 */
function sizeTriple(text, name) {
  const parts = text.split(',').map((p) => positiveInt(p.trim(), name));
  if (parts.length === 1) return [parts[0], parts[0], parts[0]];
  if (parts.length !== 3) throw new UsageError(`--${name}: expected N or X,Y,Z, got ${text}`);
  return parts;
}

/**
 * `--seeds`: a bare N means seeds 1..N; anything else is a list of seeds and ranges.
 * @param {string} text
 * @returns {Promise<number[]>} ascending
 */
async function parseSeeds(text) {
  if (/^\d+$/.test(text.trim())) {
    const n = positiveInt(text, 'seeds');
    return Array.from({ length: n }, (_, i) => i + 1);
  }
  // A list or ranges: the sweep's grammar (`1,3,7`, `1-5`), from its one home.
  const { parseSeeds: parseSeedList } = await loadDist('sweep/plan.js');
  return /** @type {number[]} */ (parseSeedList(text)).sort((a, b) => a - b);
}

/**
 * Plan options given on the command line, as a partial plan (only the keys the user set).
 * @param {{ readonly [K in PlanOption]?: string }} v
 * @returns {PlanOverrides}
 */
function planOverrides(v) {
  /** @type {Partial<PlanData>} */
  const data = {};
  /** @type {Partial<PlanSettings>} */
  const settings = {};
  if (v.difficulty !== undefined) {
    // A preset name, or a JSON object of single knobs over a preset (calibration).
    if (v.difficulty.trim().startsWith('{')) {
      try {
        data.difficulty = JSON.parse(v.difficulty);
      } catch (error) {
        throw new UsageError(
          `--difficulty: not valid JSON: ${error instanceof Error ? error.message : error}`,
        );
      }
    } else {
      // A preset name: checked with the knobs when the plan is created (resolveLaDifficulty).
      data.difficulty = /** @type {import('../src/index.js').LaDifficultyPreset} */ (v.difficulty);
    }
  }
  if (v.cases !== undefined) data.cases = positiveInt(v.cases, 'cases');
  if (v.size !== undefined) data.size = sizeTriple(v.size, 'size');
  if (v['synth-seed'] !== undefined) data.synthSeed = positiveInt(v['synth-seed'], 'synth-seed');
  if (v.val !== undefined) data.val = positiveInt(v.val, 'val');
  if (v.labeled !== undefined) settings.labeled = positiveInt(v.labeled, 'labeled');
  if (v['base-filters'] !== undefined) settings.baseFilters = positiveInt(v['base-filters'], 'base-filters');
  if (v.dropout !== undefined) {
    const d = Number(v.dropout);
    if (!(d >= 0 && d < 1)) throw new UsageError(`--dropout: expected a number in [0, 1), got ${v.dropout}`);
    settings.dropout = d;
  }
  if (v.patch !== undefined) settings.patch = sizeTriple(v.patch, 'patch');
  if (v.batch !== undefined) settings.batch = positiveInt(v.batch, 'batch');
  if (v.lr !== undefined) {
    const lr = Number(v.lr);
    if (!(lr > 0)) throw new UsageError(`--lr: expected a positive number, got ${v.lr}`);
    settings.lr = lr;
  }
  if (v['iterations-pretrain'] !== undefined)
    settings.pretrainIterations = positiveInt(v['iterations-pretrain'], 'iterations-pretrain');
  if (v['iterations-selftrain'] !== undefined)
    settings.selftrainIterations = positiveInt(v['iterations-selftrain'], 'iterations-selftrain');
  if (v['validation-interval'] !== undefined)
    settings.validationInterval = positiveInt(v['validation-interval'], 'validation-interval');
  if (v['teacher-mode'] !== undefined) {
    if (!['train', 'eval'].includes(v['teacher-mode']))
      throw new UsageError(`--teacher-mode: expected train or eval, got ${v['teacher-mode']}`);
    settings.teacherMode = /** @type {'train' | 'eval'} */ (v['teacher-mode']);
  }
  if (v.backend !== undefined) settings.backend = v.backend;
  return { data, settings };
}

/** @param {string[]} argv */
function parseOptions(argv) {
  const str = /** @type {const} */ ({ type: 'string' });
  const { values } = parseArgs({
    args: argv,
    options: {
      name: str,
      seeds: str,
      methods: str,
      jobs: str,
      record: str,
      work: str,
      results: str,
      estimate: { type: 'boolean', default: false },
      report: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      difficulty: str,
      cases: str,
      size: str,
      'synth-seed': str,
      val: str,
      labeled: str,
      'base-filters': str,
      dropout: str,
      patch: str,
      batch: str,
      lr: str,
      'iterations-pretrain': str,
      'iterations-selftrain': str,
      'validation-interval': str,
      'teacher-mode': str,
      backend: str,
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return /** @type {const} */ ({ help: true });
  // An experiment's name is its record folder: chosen on purpose, never a default that mixes two designs.
  if (values.name === undefined && !values.quick)
    throw new UsageError('--name: required (the record folder docs/experiments/NAME)');
  const name = values.name ?? 'quick';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name))
    throw new UsageError(`--name: expected a folder name, got ${name}`);
  const methods =
    values.methods === undefined
      ? null
      : values.methods
          .split(',')
          .map((m) => m.trim())
          .filter(Boolean);
  for (const m of methods ?? []) {
    if (!ALL_METHODS.includes(m)) {
      throw new UsageError(`--methods: unknown method '${m}', expected some of ${ALL_METHODS.join(', ')}`);
    }
  }
  const cpus = os.availableParallelism();
  return {
    help: /** @type {const} */ (false),
    name,
    quick: values.quick,
    seeds: values.seeds ?? null,
    methods,
    jobs: values.jobs === undefined ? Math.min(2, cpus) : positiveInt(values.jobs, 'jobs'),
    // A smoke run's record is not worth committing: it stays beside its work folder.
    record: path.resolve(
      values.record ??
        (values.quick
          ? path.join(REPO, 'runs', 'experiments', name, 'record')
          : path.join(REPO, 'docs', 'experiments', name)),
    ),
    work: path.resolve(values.work ?? path.join(REPO, 'runs', 'experiments', name)),
    results: values.results === undefined ? null : path.resolve(values.results),
    estimate: values.estimate,
    report: values.report,
    overrides: planOverrides(values),
  };
}

/**
 * A JSON file of the record or work folder; the caller names what it holds.
 * @param {string} file
 * @returns {Promise<unknown>}
 */
async function readJson(file) {
  return JSON.parse(await fs.readFile(file, 'utf8'));
}

/**
 * The library's temp file + rename (TF.js-free module, so `--report` stays light).
 * @param {string} file
 * @param {string} text
 */
async function writeTextAtomic(file, text) {
  const { writeFileAtomic } = await loadDist('util/atomic.js');
  await writeFileAtomic(file, text);
}

/**
 * @param {string} file
 * @param {unknown} value
 */
async function writeJsonAtomic(file, value) {
  await writeTextAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Hash of what decides a run's numbers: runs recorded under another plan are never mixed in.
 * @param {Plan} plan
 */
function planHash(plan) {
  return createHash('sha256')
    .update(JSON.stringify({ data: plan.data, settings: plan.settings }))
    .digest('hex')
    .slice(0, 16);
}

/**
 * The plan: read from the record folder when it exists (command-line plan options must then agree with it;
 * seeds and methods may only be added), else built from the defaults and the options and written.
 * @param {Options} o
 * @param {number[] | null} given the seeds of `--seeds`, if given
 * @returns {Promise<Plan>}
 */
async function loadOrCreatePlan(o, given) {
  const file = path.join(o.record, 'plan.json');
  const base = o.quick ? QUICK_PLAN : DEFAULT_PLAN;
  if (existsSync(file)) {
    // Written by this script (its version checked here).
    const plan = /** @type {Plan} */ (await readJson(file));
    if (plan.version !== PLAN_VERSION) throw new UsageError(`${file}: unknown plan version ${plan.version}`);
    for (const part of /** @type {const} */ (['data', 'settings'])) {
      /** @type {Readonly<Record<string, unknown>>} */
      const recorded = plan[part];
      for (const [k, v] of Object.entries(o.overrides[part])) {
        if (JSON.stringify(recorded[k]) !== JSON.stringify(v)) {
          throw new UsageError(
            `${file}: ${part}.${k} is ${JSON.stringify(recorded[k])} in the recorded plan, the command says ${JSON.stringify(v)}; use another --name for another design`,
          );
        }
      }
    }
    const seeds = [...new Set([...plan.seeds, ...(given ?? [])])].sort((a, b) => a - b);
    const methods = ALL_METHODS.filter((m) => plan.methods.includes(m) || (o.methods ?? []).includes(m));
    const results = o.results === null ? plan.results : path.relative(REPO, o.results);
    if (
      seeds.length !== plan.seeds.length ||
      methods.length !== plan.methods.length ||
      results !== plan.results
    ) {
      const grown = { ...plan, seeds, methods, results };
      if (!o.report) await writeJsonAtomic(file, grown);
      return grown;
    }
    return plan;
  }
  /** @type {Plan} */
  const plan = {
    version: PLAN_VERSION,
    name: o.name,
    data: { ...base.data, ...o.overrides.data },
    settings: { ...base.settings, ...o.overrides.settings },
    seeds: given ?? (o.quick ? [1, 2] : [1, 2, 3, 4, 5]),
    methods: o.methods ?? (o.quick ? ['supervised', 'cpam-trcm', 'fully-supervised'] : ALL_METHODS),
    // null: the record folder's results.md, wherever the record folder is (a clone, another checkout).
    results: o.results === null ? null : path.relative(REPO, o.results),
  };
  const s = plan.settings;
  if (s.batch % 2 !== 0)
    throw new UsageError(
      `--batch: the mixes split it in two sub-batches, expected an even number, got ${s.batch}`,
    );
  if (o.report) throw new UsageError(`${file} does not exist: nothing to report`);
  await checkPlan(plan);
  await writeJsonAtomic(file, plan);
  return plan;
}

// ---------------------------------------------------------------------------------------------------------
// Data

/**
 * @param {Lib} lib
 * @param {Options} o
 * @param {Plan} plan
 * @returns {Promise<{ dataset: string, info: DataInfo }>}
 */
async function prepareData(lib, o, plan) {
  const dataDir = path.join(o.work, 'data');
  const dataset = path.join(dataDir, 'dataset');
  const d = plan.data;
  if (!existsSync(path.join(dataset, 'dataset.json'))) {
    const raw = path.join(dataDir, 'raw');
    console.log(
      `data: synthesising ${d.cases} ${JSON.stringify(d.difficulty)} LA-like phantoms (${d.size.join('×')}) into ${dataDir}`,
    );
    await lib.synthesize({
      dataset: d.dataset,
      out: raw,
      cases: d.cases,
      seed: d.synthSeed,
      size: d.size,
      ...(d.difficulty === 'standard' ? {} : { difficulty: d.difficulty }),
      // An interrupted earlier invocation may have left its own phantoms here (synth removes only what it wrote).
      force: true,
    });
    const result = await lib.prepareDataset({
      dataset: d.dataset,
      raw,
      out: dataset,
      seed: d.synthSeed,
      minSize: plan.settings.patch,
      val: d.val,
      force: true,
    });
    if (result.failed.length > 0) {
      throw new Error(`prepare failed for ${result.failed.length} case(s): ${result.failed[0].error}`);
    }
  }
  const info = await describeData(lib, dataset, plan);
  const file = path.join(o.record, 'data.json');
  if (existsSync(file)) {
    const recorded = /** @type {DataInfo} */ (await readJson(file));
    if (recorded.fingerprint !== info.fingerprint) {
      throw new Error(
        `the phantoms in ${dataset} differ from the recorded ones (${file}: fingerprint ${recorded.fingerprint}, now ${info.fingerprint}); delete ${dataDir} and run again, or use another --name`,
      );
    }
  } else {
    await writeJsonAtomic(file, info);
  }
  return { dataset, info };
}

// ---------------------------------------------------------------------------------------------------------
// The sweep: one base config, one row per method, the plan's seeds

/**
 * The raw config every row shares (the library fills in the rest). Stage 1 is the same computation in every
 * row but the upper bound: same step, seed, labeled cases and streams.
 * @param {Plan} plan
 * @param {string} dataset
 */
function baseConfig(plan, dataset) {
  const s = plan.settings;
  const strides = s.patch.map((p) => Math.max(1, Math.floor(p / 2)));
  return {
    run: { name: plan.name, description: `scripts/experiment.mjs ${plan.name}` },
    backend: { name: s.backend },
    data: { dataset, preset: plan.data.dataset, patchSize: s.patch, labeled: { count: s.labeled } },
    model: { name: 'vnet', baseFilters: s.baseFilters, dropout: s.dropout },
    method: {
      name: 'cpam-trcm',
      startRange: 'valid',
      teacher: { mode: s.teacherMode },
      // The reference ramps the consistency weight over 6000 of 15000 iterations: keep that 40 % ratio.
      consistency: { rampupIterations: Math.max(1, Math.round(0.4 * s.selftrainIterations)) },
    },
    train: {
      batch: { labeled: s.batch, unlabeled: s.batch },
      stages: {
        pretrain: {
          iterations: s.pretrainIterations,
          optimizer: { name: 'sgd', lr: s.lr },
          schedule: 'constant',
        },
        selftrain: {
          iterations: s.selftrainIterations,
          optimizer: { name: 'sgd', lr: s.lr },
          schedule: { name: 'poly', power: 0.9 },
        },
      },
      // Validation windows tile the volume without overlap (half the windows of the test's stride), which is
      // enough to rank checkpoints; the final test evaluation uses the overlapping stride.
      validation: { split: 'val', interval: s.validationInterval, strides: s.patch },
      checkpointInterval: Math.max(1, Math.min(50, s.validationInterval)),
      // Every iteration: the diagnostics (pseudo-label foreground, TRCM reliable fraction) are summarised per run.
      logInterval: 1,
    },
    eval: { patch: s.patch, strides, protocol: 'strict', split: 'test', savePredictions: false },
  };
}

/**
 * The sweep's rows: what each row changes in the base config.
 * @param {Plan} plan
 * @returns {SweepRow[]}
 */
function sweepRows(plan) {
  /** @type {SweepRow[]} */
  const rows = [];
  if (plan.methods.some((m) => STAGE2_METHODS.includes(m))) {
    rows.push({ name: 'stage1', set: ['train.stages.selftrain.enabled=false'] });
  }
  for (const m of plan.methods) {
    rows.push({
      name: m,
      set:
        m === 'fully-supervised'
          ? [
              'method.name=supervised',
              'data.labeled.count=null',
              'data.labeled.percent=100',
              'train.batch.unlabeled=0',
            ]
          : [`method.name=${m}`],
    });
  }
  return rows;
}

/**
 * Runs of the plan, in the sweep's order: by row, then seed.
 * @param {Plan} plan
 * @returns {Run[]}
 */
function runList(plan) {
  return sweepRows(plan).flatMap((row) =>
    plan.seeds.map((seed) => ({
      id: `${row.name}-s${seed}`,
      kind: /** @type {RunRecord['kind']} */ (
        row.name === 'stage1' ? 'stage1' : row.name === 'fully-supervised' ? 'upper' : 'stage2'
      ),
      method: row.name,
      seed,
    })),
  );
}

/**
 * @param {Options} o
 * @param {string} id
 */
const recordFile = (o, id) => path.join(o.record, 'runs', `${id}.json`);

/**
 * Writes the sweep (`sweep-base.yaml`, `sweep.yaml`) into `dir` and expands it; the sweep folder is `dir/sweep`.
 * @param {Plan} plan
 * @param {string} dir
 * @param {string} dataset
 * @returns {Promise<SweepPlan>}
 */
async function experimentSweep(plan, dir, dataset) {
  const { readSweepFile } = await loadDist('sweep/sweep-file.js');
  const { expandSweep } = await loadDist('sweep/plan.js');
  const base = path.join(dir, 'sweep-base.yaml');
  const file = path.join(dir, 'sweep.yaml');
  await writeTextAtomic(base, toYaml(baseConfig(plan, dataset), { aliasDuplicateObjects: false }));
  const header = `# The sweep of scripts/experiment.mjs ${plan.name} (written by it; \`ssmis sweep --file\` runs it too)\n`;
  const sweep = {
    config: path.basename(base),
    rows: Object.fromEntries(sweepRows(plan).map((r) => [r.name, r.set])),
    seeds: plan.seeds,
    out: path.join(dir, 'sweep'),
  };
  await writeTextAtomic(file, header + toYaml(sweep, { aliasDuplicateObjects: false }));
  const read = await readSweepFile(file);
  return expandSweep({
    config: read.config,
    rows: read.rows,
    grid: read.grid,
    seeds: read.seeds ?? null,
    set: read.set,
    out: read.out,
  });
}

/**
 * Checks a new plan with the library's rules before it is written, so that a bad option never leaves a record
 * that every later invocation would refuse: the phantoms' difficulty (preset or knobs), the base config
 * (backend name, network, patch, batch, iterations …) and the config of every row (expanded as the sweep would,
 * in a temporary folder).
 * @param {Plan} plan
 */
async function checkPlan(plan) {
  const { resolveLaDifficulty } = await loadDist('data/synth/difficulty.js');
  const lib = await loadDist('index.js');
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ssmis-experiment-plan-'));
  try {
    resolveLaDifficulty(plan.data.difficulty, '--difficulty');
    lib.parseConfig(baseConfig(plan, 'dataset'));
    await experimentSweep(plan, tmp, 'dataset');
  } catch (error) {
    if (error instanceof lib.SsmisError) throw new UsageError(error.message);
    throw error;
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

/**
 * The runs of the plan that have no record, with their sweep runs.
 * @param {Options} o
 * @param {Plan} plan
 * @param {SweepPlan} sweep
 */
function pendingRuns(o, plan, sweep) {
  return runList(plan)
    .filter((r) => !existsSync(recordFile(o, r.id)))
    .map((r) => {
      const run = sweep.runs.find((x) => x.row === r.method && x.seed === r.seed);
      if (run === undefined) throw new Error(`no sweep run for ${r.id}`);
      return { ...r, run };
    });
}

// ---------------------------------------------------------------------------------------------------------
// A finished run folder → its record

/**
 * The record of a finished sweep run: its selected checkpoint scored on the test split under both protocols
 * (one inference per case), its selection and training history (the run's `last` checkpoint state), the
 * diagnostics of its own stage, and the SHA-256 of the stage-1 weights its stage 2 started from.
 * @param {Lib} lib
 * @param {Plan} plan
 * @param {Run} run
 * @param {SweepRun} sweepRun
 * @param {{ backend: Awaited<ReturnType<typeof setupBackend>>, threads: number }} where
 * @returns {Promise<RunRecord>}
 */
async function recordOfRun(lib, plan, run, sweepRun, { backend, threads }) {
  const { readTrainingState } = await loadDist('train/state.js');
  const { loadModelFromCheckpoint } = await loadDist('infer/model.js');
  const { runDir } = sweepRun;
  const checkpoints = path.join(runDir, 'checkpoints');
  const config = (await lib.loadConfig(path.join(runDir, 'config.yaml'))).config;
  const stored = await readTrainingState(checkpoints, 'last');
  if (stored === null) throw new Error(`${runDir}: no last checkpoint`);
  const { state } = stored;
  // Training ends with the model its last stage selected, `best` (a stage-1-only run copies its `pretrain-best`
  // there), or the final weights, `last`: the model its own final evaluation scored.
  const ownStage = run.kind === 'stage1' ? 'pretrain' : 'selftrain';
  const best = state.best[ownStage] ?? null;
  const checkpoint =
    best !== null && existsSync(path.join(checkpoints, 'best.safetensors')) ? 'best' : 'last';
  const t0 = Date.now();
  const dataset = await lib.openDataset(config.data.dataset);
  const model = await loadModelFromCheckpoint(config, path.join(checkpoints, `${checkpoint}.safetensors`));
  /** @type {TestEvaluation} */
  let test;
  try {
    test = await evaluateBothProtocols(lib, { model, dataset, config }, dataset.ids('test'));
  } finally {
    model.dispose();
  }
  const evalSeconds = (Date.now() - t0) / 1000;
  const history = state.history;
  /** @param {'pretrain' | 'selftrain'} stage */
  const stageRows = (stage) => history.filter((r) => r.stage === stage);
  /** @param {'pretrain' | 'selftrain'} stage */
  const msMean = (stage) =>
    mean(
      stageRows(stage)
        .map((r) => r.msPerIteration)
        .filter(Number.isFinite),
    );
  const stage1 = path.join(checkpoints, 'pretrain-best.safetensors');
  return {
    id: run.id,
    kind: run.kind,
    method: run.method,
    seed: run.seed,
    planHash: planHash(plan),
    finishedAt: new Date().toISOString(),
    selection: {
      checkpoint,
      split: config.train.validation.split,
      best: best && { dice: best.dice, iteration: best.iteration },
    },
    test,
    diagnostics: summarizeDiagnostics(stageRows(ownStage)),
    // The weights stage 2 started from (stage 1's selected model), so the rows of a seed can be checked equal.
    stage1Sha256: run.kind === 'upper' || !existsSync(stage1) ? null : await weightsSha256(stage1),
    timing: {
      msPerIteration: { pretrain: msMean('pretrain'), selftrain: msMean('selftrain') },
      trainSeconds: state.elapsedSeconds,
      evalSeconds,
      kernelThreads: backend.fastKernels ? threads : 1,
    },
    machine: machineInfo(),
    code: codeVersion(),
    backend: { active: backend.active, tfjsVersion: backend.tfjsVersion, fastKernels: backend.fastKernels },
  };
}

/** @type {ReturnType<typeof setupBackend> | null} */
let backendSetup = null;

/**
 * The backend this process evaluates with (its one plan's), set up once: runs are recorded one by one as they
 * finish.
 * @param {string} name
 */
function backendOnce(name) {
  backendSetup ??= setupBackend({ backend: name });
  return backendSetup;
}

/**
 * Records every finished, unrecorded run; says which rows of a seed started stage 2 from different stage-1
 * weights.
 * @param {Options} o
 * @param {Plan} plan
 * @param {ReturnType<typeof pendingRuns>} pending
 * @param {number} threads kernel threads each run trained with
 */
async function recordFinished(o, plan, pending, threads) {
  const { runState } = await loadDist('sweep/run-state.js');
  const finished = [];
  for (const p of pending) if ((await runState(p.run.runDir)).kind === 'finished') finished.push(p);
  if (finished.length === 0) return 0;
  const lib = await loadDist('index.js');
  const backend = await backendOnce(plan.settings.backend);
  for (const p of finished) {
    const record = await recordOfRun(lib, plan, p, p.run, { backend, threads });
    await writeJsonAtomic(recordFile(o, p.id), record);
    console.log(
      `recorded ${p.id}: test Dice ${((record.test.strict.dice ?? 0) * 100).toFixed(2)} % (strict), ${((record.test.paper.dice ?? 0) * 100).toFixed(2)} % (paper)`,
    );
  }
  backend.kernels?.unregisterFastKernels();
  const records = await readRecords(o, plan);
  for (const seed of plan.seeds) {
    const shas = records.filter((r) => r.seed === seed && r.kind !== 'upper' && r.stage1Sha256 !== null);
    const distinct = [...new Set(shas.map((r) => r.stage1Sha256))];
    if (distinct.length > 1) {
      console.log(
        `warning: seed ${seed}: the rows started stage 2 from different stage-1 weights (${shas.map((r) => `${r.id} ${String(r.stage1Sha256).slice(0, 12)}`).join(', ')})`,
      );
    }
  }
  return finished.length;
}

// ---------------------------------------------------------------------------------------------------------
// Estimate, report, main

/**
 * Estimated compute seconds of the pending runs: per row, the mean training plus evaluation time of its
 * recorded runs; rows without a recorded run are named instead.
 * @param {RunRecord[]} records
 * @param {readonly Run[]} pending
 */
function estimate(records, pending) {
  let seconds = 0;
  /** @type {Set<string>} */
  const unknown = new Set();
  for (const r of pending) {
    const times = records
      .filter((x) => x.method === r.method && x.timing.trainSeconds !== null)
      .map((x) => (x.timing.trainSeconds ?? 0) + (x.timing.evalSeconds ?? 0));
    const m = mean(times);
    if (m === null) unknown.add(r.method);
    else seconds += m;
  }
  return { seconds, unknown: [...unknown] };
}

/**
 * The progress line of a sweep event.
 * @param {LocalSweepEvent} event
 * @param {Map<string, string>} ids run name → record id
 */
function eventLine(event, ids) {
  const id = ids.get(event.run.name) ?? event.run.name;
  switch (event.type) {
    case 'started':
      return `start ${id} (${event.train.mode === 'resume' ? 'resumed' : 'new'})`;
    case 'finished':
      return `finished ${id} (${formatDuration(event.seconds)})`;
    case 'failed':
      return `FAILED ${id}${event.code !== null ? ` (exit ${event.code})` : ''}${event.message ? `: ${event.message}` : ''}; log ${event.log}`;
    case 'stopped':
      return `stopped ${id}; the same command resumes it`;
    case 'skipped':
      return `${id}: finished earlier`;
  }
}

/** @param {number} seconds */
function formatDuration(seconds) {
  if (seconds < 90) return `${seconds.toFixed(0)} s`;
  if (seconds < 5400) return `${(seconds / 60).toFixed(0)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/**
 * Reads every run record of the plan (records of another plan are reported and left out).
 * @param {Options} o
 * @param {Plan} plan
 * @returns {Promise<RunRecord[]>}
 */
async function readRecords(o, plan) {
  const dir = path.join(o.record, 'runs');
  if (!existsSync(dir)) return [];
  const hash = planHash(plan);
  const records = [];
  for (const f of (await fs.readdir(dir)).filter((x) => x.endsWith('.json')).sort()) {
    // Written by recordFinished; its plan hash is checked here.
    const r = /** @type {RunRecord} */ (await readJson(path.join(dir, f)));
    if (r.planHash !== hash) {
      console.warn(`report: ${f} was recorded under another plan (${r.planHash}), left out`);
      continue;
    }
    records.push(r);
  }
  return records;
}

/**
 * @param {Options} o
 * @param {Plan} plan
 */
async function writeReport(o, plan) {
  const records = await readRecords(o, plan);
  const dataFile = path.join(o.record, 'data.json');
  const data = existsSync(dataFile) ? /** @type {DataInfo} */ (await readJson(dataFile)) : null;
  const notesFile = path.join(o.record, 'notes.md');
  const notes = existsSync(notesFile) ? readFileSync(notesFile, 'utf8') : null;
  const out = plan.results === null ? path.join(o.record, 'results.md') : path.resolve(REPO, plan.results);
  const markdown = renderExperimentReport({
    plan,
    difficultyPreset: await presetOf(plan.data.difficulty),
    data,
    records,
    notes,
    recordDir: path.relative(path.dirname(out), o.record) || '.',
    command: `node scripts/experiment.mjs --name ${plan.name}${o.quick ? ' --quick' : ''}`,
  });
  await writeTextAtomic(out, markdown);
  console.log(`report: ${path.relative(process.cwd(), out)} (${records.length} run(s))`);
}

/**
 * The `synth --difficulty` preset whose knobs a plan's difficulty resolves to, so that the report's recipe is a
 * command (`--difficulty scarce`) and not only a library call; null when no preset has exactly these knobs.
 * @param {Plan['data']['difficulty']} difficulty
 * @returns {Promise<string | null>}
 */
async function presetOf(difficulty) {
  if (typeof difficulty === 'string') return difficulty;
  const { resolveLaDifficulty, LA_DIFFICULTY_PRESET_NAMES } = await loadDist('data/synth/difficulty.js');
  const knobs = JSON.stringify(resolveLaDifficulty(difficulty, 'plan.json data.difficulty'));
  return (
    LA_DIFFICULTY_PRESET_NAMES.find((name) => JSON.stringify(resolveLaDifficulty(name)) === knobs) ?? null
  );
}

/** @param {Options} o */
async function experimentMain(o) {
  const seeds = o.seeds === null ? null : await parseSeeds(o.seeds);
  const plan = await loadOrCreatePlan(o, seeds);
  if (o.report) return writeReport(o, plan);
  const lib = await loadDist('index.js');
  const { dataset, info } = await prepareData(lib, o, plan);
  const sweep = await experimentSweep(plan, o.work, dataset);
  const { writeSweep } = await loadDist('sweep/plan.js');
  // Seeds and rows may be added to a plan: the sweep grows with it (the runs it had keep their configs).
  await writeSweep(sweep, { addRuns: true });
  // Seed by seed, so that the paired comparisons fill up while the experiment runs.
  // `--methods` and `--seeds` also say what this invocation trains (the plan may hold more unrecorded runs); the
  // stage-1 row of a seed goes with any stage-2 row (it is their shared start).
  const rows =
    o.methods === null || o.methods.every((m) => m === 'fully-supervised')
      ? o.methods
      : [...o.methods, 'stage1'];
  const unrecorded = pendingRuns(o, plan, sweep);
  const pending = unrecorded
    .filter((p) => (rows === null || rows.includes(p.method)) && (seeds === null || seeds.includes(p.seed)))
    .sort((a, b) => a.seed - b.seed);
  const total = runList(plan).length;
  console.log(
    `experiment ${plan.name}: ${info.counts.labeled} labeled + ${info.counts.unlabeled} unlabeled training cases, ${info.counts.val} validation, ${info.counts.test} test; ` +
      `seeds ${plan.seeds.join(',')}; rows ${plan.methods.join(', ')}; ${total - unrecorded.length}/${total} runs recorded, ${pending.length} to train now; sweep ${sweep.paths.dir}`,
  );
  const { runSweepLocally, threadsPerRun } = await loadDist('sweep/local.js');
  const threads = Number(threadsPerRun(o.jobs));
  // Run folders that finished in an earlier invocation (stopped while it recorded) need no training.
  await recordFinished(o, plan, pending, threads);
  const left = pending.filter((p) => !existsSync(recordFile(o, p.id)));
  if (left.length === 0) {
    console.log('nothing left to train');
    return writeReport(o, plan);
  }
  const cost = estimate(await readRecords(o, plan), left);
  const unknown =
    cost.unknown.length > 0
      ? `; rows without a recorded run to time them by: ${cost.unknown.join(', ')}`
      : '';
  console.log(
    `estimate: ${left.length} run(s) to train${cost.seconds > 0 ? `, ${formatDuration(cost.seconds)} of compute, about ${formatDuration(cost.seconds / o.jobs)} with ${o.jobs} job(s) at once` : ''}${unknown}`,
  );
  if (o.estimate) return;

  // A signal to this process (not only Ctrl-C at a terminal, which reaches the runs too) stops every run after
  // its current iteration, with its `last` checkpoint written.
  const controller = new AbortController();
  /** @param {NodeJS.Signals} signal */
  const stop = (signal) => {
    if (!controller.signal.aborted)
      console.log(`\nexperiment: ${signal}: stopping the running runs after their current iteration`);
    controller.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const ids = new Map(left.map((p) => [p.run.name, p.id]));
  console.log(
    `training ${left.length} run(s), ${o.jobs} at once, ${threads} kernel thread(s) each; logs in ${sweep.paths.logs}`,
  );
  // Each run is recorded (and the report rebuilt) as soon as it finishes, while the others train, so that a
  // long experiment stopped at any point has every finished run in its record folder.
  let recording = Promise.resolve();
  /** @param {ReturnType<typeof pendingRuns>[number]} p */
  const recordNow = (p) => {
    recording = recording
      .then(() => recordFinished(o, plan, [p], threads))
      .then((n) => (n > 0 ? writeReport(o, plan) : undefined))
      .catch((error) => {
        console.log(
          `recording ${p.id} failed (${error instanceof Error ? error.message : error}); retried at the end`,
        );
      });
  };
  const summary = await runSweepLocally(
    { ...sweep, runs: left.map((p) => p.run) },
    {
      parallel: o.jobs,
      bin: path.join(REPO, 'bin', 'ssmis.js'),
      signal: controller.signal,
      onEvent: (event) => {
        console.log(eventLine(event, ids));
        const p = event.type === 'finished' ? left.find((q) => q.run.name === event.run.name) : undefined;
        if (p !== undefined) recordNow(p);
      },
    },
  );
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  await recording;
  await recordFinished(
    o,
    plan,
    left.filter((p) => !existsSync(recordFile(o, p.id))),
    threads,
  );
  await writeReport(o, plan);
  if (summary.stopped > 0) {
    console.log('experiment: interrupted; run the same command again to continue');
    process.exitCode = 130;
  } else if (summary.failed > 0) {
    console.error(`experiment: ${summary.failed} run(s) failed (their logs are named above)`);
    process.exitCode = 1;
  }
}

async function main() {
  let o;
  try {
    o = parseOptions(process.argv.slice(2));
  } catch (error) {
    console.error(`experiment: ${error instanceof Error ? error.message : error}`);
    process.exit(2);
  }
  if (o.help) {
    const text = await fs.readFile(new URL(import.meta.url), 'utf8');
    console.log(text.slice(text.indexOf(' * Usage:'), text.indexOf(' */')).replace(/^ \* ?/gm, ''));
    return;
  }
  return experimentMain(o);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error) => {
    // A usage or input error is one line; anything else is a bug and keeps its stack.
    const usage =
      error?.name === 'InputError' || error?.name === 'ConfigError' || error instanceof UsageError;
    const text = error instanceof Error ? (usage ? error.message : (error.stack ?? error.message)) : error;
    console.error(`experiment: ${text}`);
    process.exit(usage ? 2 : 1);
  });
}
