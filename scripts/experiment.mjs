#!/usr/bin/env node
// @ts-check
/**
 * The semi-supervised experiment: does unlabeled data help, measured with paired confidence intervals over seeds.
 * Runs against the compiled library in `dist/` (`npm run build` first).
 *
 * An experiment has a name and a record folder, `docs/experiments/<name>/`, that is committed as it grows:
 *   plan.json        what decides the numbers (data recipe, settings, seeds, methods); fixed once written,
 *                    except that seeds and methods may be added
 *   data.json        what the phantoms were (split sizes, ids, true foreground fraction of a training patch)
 *   runs/<id>.json   one small file per finished run (test metrics under both protocols, per case, selection,
 *                    diagnostics, timing); a run whose file exists is never trained again
 *   notes.md         optional hand-written interpretation, copied into the report
 * The heavy files (phantoms, run folders, checkpoints) live in the work folder `runs/experiments/<name>/`
 * (not committed). An interrupted invocation, or a later one on a fresh clone, continues where the last
 * stopped: finished runs are read from their files, interrupted runs resume from their `last` checkpoint, and
 * a stage-1 model whose folder is missing is trained again (its weights' SHA-256 is checked against the
 * recorded one, so a method run never silently starts from another model).
 *
 * Rows (methods): every seed first trains stage 1 (copy-paste pre-training on labeled pairs) once; each of
 * `supervised`, `mean-teacher`, `bcp`, `cpam`, `cpam-trcm` continues that same stage-1 model with its own
 * stage 2; `fully-supervised` (the upper bound) trains both stages with every training case labeled.
 * Model selection on the validation split; the test split is only used for the final evaluation, scored under
 * both protocols (`strict`; `paper`, with the largest connected component).
 *
 * Usage: node scripts/experiment.mjs [options]
 *   --name NAME                experiment name (required except with --quick): record docs/experiments/NAME
 *   --seeds N | a,b,..         seeds 1..N or a list (default 5; may grow between invocations)
 *   --methods a,b              rows to run (default all: supervised,mean-teacher,bcp,cpam,cpam-trcm,fully-supervised)
 *   --jobs N                   runs trained at once, each in its own process (default: logical CPUs, at most 2)
 *   --estimate                 print the estimated compute time of what is left and stop
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
 * Ctrl-C stops after the current iteration of each run (their `last` checkpoints are written); run the same
 * command again to continue.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { renderExperimentReport, summarizeDiagnostics } from './lib/experiment-report.mjs';
import { loadDist, machineInfo, setupBackend } from './lib/runtime.mjs';
import { mean } from './lib/stats.mjs';

/**
 * @import { ChildProcess } from 'node:child_process'
 * @import { Readable } from 'node:stream'
 * @import { DiagnosticsSummary, Plan, PlanData, PlanSettings, ReportData, RunRecord } from './lib/experiment-report.mjs'
 * @import { FinalEvaluationContext, SsmisConfig } from '../src/index.js'
 */
/** @typedef {typeof import('../src/index.js')} Lib the library, as `loadDist('index.js')` gives it */
/**
 * One run of the plan: stage 1 of a seed, a method's stage 2 from it, or the upper bound (both stages).
 * @typedef {object} Run
 * @property {string} id
 * @property {RunRecord['kind']} kind
 * @property {string} method
 * @property {number} seed
 * @property {string | null} [stage1] the id of the stage-1 run a stage-2 run starts from
 */
/**
 * `data.json`: what the report reads, and the case ids of each split.
 * @typedef {ReportData & { ids: { labeled: string[], unlabeled: string[], val: string[], test: string[] } }} DataInfo
 */
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
const TIME_FILE = 'experiment-time.json';

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

/** @param {string} text */
function parseSeeds(text) {
  if (/^\d+$/.test(text.trim())) {
    const n = positiveInt(text, 'seeds');
    return Array.from({ length: n }, (_, i) => i + 1);
  }
  const seeds = text.split(',').map((s) => positiveInt(s.trim(), 'seeds'));
  if (new Set(seeds).size !== seeds.length)
    throw new UsageError(`--seeds: a seed is listed twice in ${text}`);
  return seeds.sort((a, b) => a - b);
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
      child: str,
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
    seeds: values.seeds === undefined ? null : parseSeeds(values.seeds),
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
    child: values.child ?? null,
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
 * @returns {Promise<Plan>}
 */
async function loadOrCreatePlan(o) {
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
    const seeds = [...new Set([...plan.seeds, ...(o.seeds ?? [])])].sort((a, b) => a - b);
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
    seeds: o.seeds ?? (o.quick ? [1, 2] : [1, 2, 3, 4, 5]),
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

/**
 * Checks a new plan with the library's own rules before it is written, so that a bad option never leaves a record
 * that every later invocation would refuse: the phantoms' difficulty (preset or knobs) and the run config of every
 * row (backend name, network, patch, batch, iterations …).
 * @param {Plan} plan
 */
async function checkPlan(plan) {
  const { resolveLaDifficulty } = await loadDist('data/synth/difficulty.js');
  const lib = await loadDist('index.js');
  try {
    resolveLaDifficulty(plan.data.difficulty, '--difficulty');
    for (const run of runList(plan)) {
      runConfig(lib, plan, { dataset: 'dataset', runsDir: 'runs', run });
    }
  } catch (error) {
    if (error instanceof lib.SsmisError) throw new UsageError(error.message);
    throw error;
  }
}

/**
 * Runs of the plan, in the order they are scheduled: per seed, stage 1, then its methods.
 * @param {Plan} plan
 * @returns {Run[]}
 */
function runList(plan) {
  /** @type {Run[]} */
  const runs = [];
  const needsStage1 = plan.methods.some((m) => STAGE2_METHODS.includes(m));
  for (const seed of plan.seeds) {
    if (needsStage1) runs.push({ id: `stage1-s${seed}`, kind: 'stage1', method: 'stage1', seed });
    for (const method of plan.methods) {
      runs.push({
        id: `${method}-s${seed}`,
        kind: method === 'fully-supervised' ? 'upper' : 'stage2',
        method,
        seed,
        stage1: method === 'fully-supervised' ? null : `stage1-s${seed}`,
      });
    }
  }
  return runs;
}

/**
 * @param {Options} o
 * @param {string} id
 */
const recordFile = (o, id) => path.join(o.record, 'runs', `${id}.json`);

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

/**
 * Split sizes and ids, and the true foreground fraction of a training patch: the mean, over the unlabeled
 * training cases and every position of a uniformly placed patch, of the label's foreground fraction inside it
 * (what the pseudo-labels' foreground fraction estimates when they are right), exact via a summed-volume table.
 * @param {Lib} lib
 * @param {string} datasetDir
 * @param {Plan} plan
 * @returns {Promise<DataInfo>}
 */
async function describeData(lib, datasetDir, plan) {
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

// ---------------------------------------------------------------------------------------------------------
// One run (child process)

/**
 * The config of one run. Everything but the method, the labeled amount and the enabled stages is shared.
 * @param {Lib} lib
 * @param {Plan} plan
 * @param {{ dataset: string, runsDir: string, run: Run, probe?: boolean }} where
 * @returns {SsmisConfig}
 */
function runConfig(lib, plan, { dataset, runsDir, run, probe = false }) {
  const s = plan.settings;
  // A probe times a few iterations of each stage, without validation.
  const pretrainIterations = probe ? 3 : s.pretrainIterations;
  const selftrainIterations = probe ? 4 : s.selftrainIterations;
  const stage1Only = run.kind === 'stage1';
  const upper = run.kind === 'upper';
  const method = stage1Only ? 'cpam-trcm' : upper ? 'supervised' : run.method;
  const strides = s.patch.map((p) => Math.max(1, Math.floor(p / 2)));
  return lib.parseConfig({
    run: { name: run.id, outputDir: runsDir, description: `scripts/experiment.mjs ${plan.name}: ${run.id}` },
    backend: { name: s.backend },
    data: {
      dataset,
      preset: plan.data.dataset,
      patchSize: s.patch,
      labeled: upper ? { percent: 100 } : { count: s.labeled },
    },
    model: { name: 'vnet', baseFilters: s.baseFilters, dropout: s.dropout },
    method: {
      name: method,
      startRange: 'valid',
      teacher: { mode: s.teacherMode },
      // The reference ramps the consistency weight over 6000 of 15000 iterations: keep that 40 % ratio.
      consistency: { rampupIterations: Math.max(1, Math.round(0.4 * s.selftrainIterations)) },
    },
    train: {
      seed: run.seed,
      batch: { labeled: s.batch, unlabeled: upper ? 0 : s.batch },
      stages: {
        pretrain: {
          iterations: pretrainIterations,
          optimizer: { name: 'sgd', lr: s.lr },
          schedule: 'constant',
        },
        selftrain: {
          enabled: !stage1Only,
          iterations: selftrainIterations,
          optimizer: { name: 'sgd', lr: s.lr },
          schedule: { name: 'poly', power: 0.9 },
          ...(probe ? { initFrom: 'last' } : {}),
        },
      },
      // Validation windows tile the volume without overlap (half the windows of the test's stride), which is
      // enough to rank checkpoints; the final test evaluation uses the overlapping stride.
      validation: probe
        ? { split: 'none' }
        : { split: 'val', interval: s.validationInterval, strides: s.patch },
      checkpointInterval: Math.max(1, Math.min(50, s.validationInterval)),
      // Every iteration: the diagnostics (pseudo-label foreground, TRCM reliable fraction) are summarised per run.
      logInterval: 1,
    },
    eval: { patch: s.patch, strides, protocol: 'strict', split: 'test', savePredictions: false },
  });
}

/**
 * SHA-256 of a safetensors checkpoint's weights: tensor names, dtypes, shapes and bytes, without the metadata
 * (which holds a random checkpoint id), so that the same weights trained twice hash the same.
 * @param {string} file
 */
async function weightsSha256(file) {
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
 * The stage-1 weights stage 2 starts from (the validation-selected stage-1 checkpoint).
 * @param {string} runDir
 */
const stage1Checkpoint = (runDir) => path.join(runDir, 'checkpoints', 'pretrain-best.safetensors');

/**
 * Whether a run folder's training has finished the stages its config enables (read from `last.json`).
 * @param {string} runDir
 * @param {readonly string[]} stages
 */
async function trainingFinished(runDir, stages) {
  try {
    // The library's checkpoint state; a missing or unreadable one counts as not finished.
    const state = /** @type {{ completedStages?: string[], state?: { completedStages?: string[] } }} */ (
      await readJson(path.join(runDir, 'checkpoints', 'last.json'))
    );
    const done = state.completedStages ?? state.state?.completedStages ?? [];
    return stages.every((s) => done.includes(s));
  } catch {
    return false;
  }
}

/**
 * Scores every test case once per protocol: `strict`, and `paper` (largest 26-connected component).
 * @param {Lib} lib
 * @param {FinalEvaluationContext} context
 * @param {readonly string[]} ids
 */
async function evaluateBothProtocols(lib, context, ids) {
  const { model, dataset, config } = context;
  /** @typedef {Pick<import('../src/eval/protocol.js').ClassMetrics, 'dice' | 'jaccard' | 'hd95' | 'asd' | 'predVoxels'>} CaseScore */
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
   * @returns {import('./lib/experiment-report.mjs').ProtocolSummary}
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

/**
 * @param {string} runDir
 * @param {'train' | 'eval'} key
 * @param {number} seconds
 */
async function addRunSeconds(runDir, key, seconds) {
  const file = path.join(runDir, TIME_FILE);
  /** @type {{ train?: number, eval?: number }} */
  let before = {};
  try {
    before = /** @type {{ train?: number, eval?: number }} */ (await readJson(file));
  } catch {
    before = {};
  }
  await writeJsonAtomic(file, { ...before, [key]: (before[key] ?? 0) + seconds });
}

/**
 * Trains (or resumes) one run in this process and writes its record file; exit code 130 when interrupted.
 * @param {Options} o
 * @param {Plan} plan
 * @param {string} runId
 */
async function childMain(o, plan, runId) {
  const run = runList(plan).find((r) => r.id === runId);
  if (!run) throw new UsageError(`--child: no run '${runId}' in the plan`);
  const lib = await loadDist('index.js');
  const backend = await setupBackend({ backend: plan.settings.backend });
  const dataset = path.join(o.work, 'data', 'dataset');
  const runsDir = path.join(o.work, 'runs');
  const runDir = path.join(runsDir, run.id);
  const config = runConfig(lib, plan, { dataset, runsDir, run });
  const recordPath = recordFile(o, run.id);
  const recorded = existsSync(recordPath) ? /** @type {RunRecord} */ (await readJson(recordPath)) : null;

  /** @type {string | null} */
  let startedFrom = null;
  let mode = existsSync(path.join(runDir, 'checkpoints', 'last.json')) ? 'resume' : 'fresh';
  if (run.kind === 'stage2') {
    // A stage-2 run always names its stage-1 run (runList).
    const stage1Dir = path.join(runsDir, /** @type {string} */ (run.stage1));
    if (!(await trainingFinished(stage1Dir, ['pretrain']))) {
      throw new Error(`${run.id}: the stage-1 run ${run.stage1} has not finished`);
    }
    startedFrom = await weightsSha256(stage1Checkpoint(stage1Dir));
    if (mode === 'fresh') {
      // Start from this seed's stage-1 folder (its eval/ and lock left out), with this run's own config.yaml.
      await fs.rm(runDir, { recursive: true, force: true });
      const tmp = `${runDir}.tmp-copy`;
      await fs.rm(tmp, { recursive: true, force: true });
      await fs.cp(stage1Dir, tmp, {
        recursive: true,
        filter: (src) =>
          !['eval', TIME_FILE, '.ssmis-lock'].includes(path.relative(stage1Dir, src).split(path.sep)[0]),
      });
      await fs.writeFile(path.join(tmp, 'config.yaml'), lib.configToYaml(config));
      await fs.rename(tmp, runDir);
      mode = 'resume';
    }
  }

  const controller = new AbortController();
  const stop = () => controller.abort();
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // Set by finalEvaluation, which train calls (typed wide so that the checks below do not see only null).
  let evaluation = /** @type {TestEvaluation | null} */ (null);
  let selected = /** @type {FinalEvaluationContext['selected'] | null} */ (null);
  let evalSeconds = 0;
  /** @param {FinalEvaluationContext} context */
  const finalEvaluation = async (context) => {
    if (recorded !== null) return; // only the folder was missing (a fresh clone): the record stands
    const t0 = Date.now();
    selected = context.selected;
    const ds = await lib.openDataset(dataset);
    evaluation = await evaluateBothProtocols(lib, context, ds.ids('test'));
    evalSeconds = (Date.now() - t0) / 1000;
  };
  let lastPrinted = 0;
  const t0 = Date.now();
  const result = await lib.train(config, {
    runDir,
    resume: mode === 'resume',
    force: mode === 'fresh',
    finalEvaluation,
    signal: controller.signal,
    onEvent: (event) => {
      if (event.type === 'validation') {
        console.log(
          `${event.stage} ${event.iteration}: val Dice ${event.dice.toFixed(4)}${event.improved ? ' (best)' : ''}`,
        );
      }
      if (event.type !== 'iteration') return;
      const every = Math.max(1, Math.floor(event.iterations / 4));
      if (event.iteration % every !== 0 || event.iteration === lastPrinted) return;
      lastPrinted = event.iteration;
      console.log(
        `${event.stage} ${event.iteration}/${event.iterations}  loss ${event.loss.toFixed(4)}  ${(event.msPerIteration / 1000).toFixed(2)} s/it`,
      );
    },
  });
  await addRunSeconds(runDir, 'train', (Date.now() - t0) / 1000 - evalSeconds);
  if (result.interrupted) {
    console.log('interrupted; run the experiment again to continue');
    process.exitCode = 130;
    return;
  }
  if (run.kind === 'stage1' || run.kind === 'upper') {
    // The weights stage 2 starts from: recorded, so that a folder trained again on another machine is checked.
    startedFrom = run.kind === 'stage1' ? await weightsSha256(stage1Checkpoint(runDir)) : null;
  }
  if (recorded !== null) {
    if (run.kind === 'stage1' && recorded.stage1Sha256 !== startedFrom) {
      console.log(
        `warning: ${run.id} trained again gives other weights than recorded (${String(startedFrom).slice(0, 12)} vs ${String(recorded.stage1Sha256).slice(0, 12)}); the method runs of seed ${run.seed} started from now will say so`,
      );
    }
    return;
  }
  await addRunSeconds(runDir, 'eval', evalSeconds);
  // Both written above (addRunSeconds).
  const times = /** @type {{ train: number, eval: number }} */ (await readJson(path.join(runDir, TIME_FILE)));
  // train returns, uninterrupted, only after finalEvaluation has run.
  const test = /** @type {TestEvaluation} */ (evaluation);
  const history = result.history;
  /** @param {'pretrain' | 'selftrain'} stage */
  const stageRows = (stage) => history.filter((r) => r.stage === stage);
  /** @param {'pretrain' | 'selftrain'} stage */
  const msMean = (stage) =>
    mean(
      stageRows(stage)
        .map((r) => r.msPerIteration)
        .filter(Number.isFinite),
    );
  const ownStage = run.kind === 'stage1' ? 'pretrain' : 'selftrain';
  /** @satisfies {RunRecord} */
  const record = {
    id: run.id,
    kind: run.kind,
    method: run.method,
    seed: run.seed,
    planHash: planHash(plan),
    finishedAt: new Date().toISOString(),
    selection: selected && {
      checkpoint: selected.checkpoint,
      split: selected.split,
      best: selected.best && { dice: selected.best.dice, iteration: selected.best.iteration },
    },
    test,
    diagnostics: summarizeDiagnostics(stageRows(ownStage)),
    stage1Sha256: run.kind === 'upper' ? null : startedFrom,
    timing: {
      msPerIteration: { pretrain: msMean('pretrain'), selftrain: msMean('selftrain') },
      trainSeconds: times.train ?? null,
      evalSeconds: times.eval ?? null,
      // Worker threads plus the main thread.
      kernelThreads: backend.fastKernels ? backend.kernelWorkers + 1 : 1,
    },
    machine: machineInfo(),
    backend: { active: backend.active, tfjsVersion: backend.tfjsVersion, fastKernels: backend.fastKernels },
  };
  await writeJsonAtomic(recordPath, record);
  console.log(
    `done: test Dice ${((test.strict.dice ?? 0) * 100).toFixed(2)} % (strict), ${((test.paper.dice ?? 0) * 100).toFixed(2)} % (paper); ${record.timing.trainSeconds.toFixed(0)} s`,
  );
  backend.kernels?.unregisterFastKernels();
}

// ---------------------------------------------------------------------------------------------------------
// Scheduling (parent process)

/**
 * Runs `--child id` in its own process, its output prefixed with the run id; resolves to the exit code.
 * @param {Options} o
 * @param {Plan} plan
 * @param {string} id
 * @returns {{ child: ChildProcess, done: Promise<number> }}
 */
function spawnChild(o, plan, id) {
  const args = [
    fileURLToPath(import.meta.url),
    '--child',
    id,
    '--name',
    plan.name,
    '--record',
    o.record,
    '--work',
    o.work,
  ];
  if (o.quick) args.push('--quick');
  const child = spawn(process.execPath, args, { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  /**
   * @param {Readable} stream
   * @param {NodeJS.WritableStream} out
   */
  const prefix = (stream, out) => {
    let rest = '';
    stream.on(
      'data',
      /** @param {Buffer} chunk */ (chunk) => {
        const text = rest + chunk.toString();
        const lines = text.split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) if (line.trim()) out.write(`[${id}] ${line}\n`);
      },
    );
    stream.on('end', () => {
      if (rest.trim()) out.write(`[${id}] ${rest}\n`);
    });
  };
  prefix(child.stdout, process.stdout);
  prefix(child.stderr, process.stderr);
  /** @type {Promise<number>} */
  const done = new Promise((resolve) =>
    child.on('close', (code, signal) => resolve(code ?? (signal ? 130 : 1))),
  );
  return { child, done };
}

/**
 * Which runs still need a process: no record yet, or a stage-1 run whose folder is missing while a stage-2
 * run of its seed still needs it.
 * @param {Options} o
 * @param {Plan} plan
 */
async function pendingRuns(o, plan) {
  const runs = runList(plan);
  const recorded = new Set(runs.filter((r) => existsSync(recordFile(o, r.id))).map((r) => r.id));
  const runsDir = path.join(o.work, 'runs');
  const pending = [];
  for (const r of runs) {
    if (r.kind !== 'stage1') {
      if (!recorded.has(r.id)) pending.push(r);
      continue;
    }
    const needed = runs.some((m) => m.stage1 === r.id && !recorded.has(m.id));
    const finished = await trainingFinished(path.join(runsDir, r.id), ['pretrain']);
    if (!recorded.has(r.id) || (needed && !finished)) pending.push(r);
  }
  return pending;
}

/**
 * Milliseconds per iteration by row, from the finished runs of this plan; rows without a finished run get a
 * short probe (a few iterations of each stage in a temporary folder, in this process).
 * @param {Options} o
 * @param {Plan} plan
 * @param {readonly Run[]} pending
 * @param {string} dataset
 * @returns {Promise<IterationCosts>}
 */
async function iterationCosts(o, plan, pending, dataset) {
  /** @type {IterationCosts['costs']} */
  const costs = {};
  /** @type {number[]} */
  const evalSeconds = [];
  for (const r of await readRecords(o, plan)) {
    const key = r.kind === 'stage1' ? 'stage1' : r.method;
    costs[key] ??= { pretrain: [], selftrain: [], overhead: [] };
    const t = r.timing.msPerIteration;
    if (t.pretrain) costs[key].pretrain.push(t.pretrain);
    if (t.selftrain) costs[key].selftrain.push(t.selftrain);
    const iterations =
      (r.kind === 'stage1' ? 0 : plan.settings.selftrainIterations) +
      (r.kind === 'stage2' ? 0 : plan.settings.pretrainIterations);
    const loopSeconds =
      ((r.kind === 'stage1'
        ? (t.pretrain ?? 0)
        : r.kind === 'upper'
          ? ((t.pretrain ?? 0) + (t.selftrain ?? 0)) / 2
          : (t.selftrain ?? 0)) *
        iterations) /
      1000;
    // Validation, checkpoints and start-up: what the run's wall time holds beyond its iterations.
    if (r.timing.trainSeconds) costs[key].overhead.push(Math.max(0, r.timing.trainSeconds - loopSeconds));
    if (r.timing.evalSeconds) evalSeconds.push(r.timing.evalSeconds);
  }
  const need = [...new Set(pending.map((r) => (r.kind === 'stage1' ? 'stage1' : r.method)))].filter(
    (k) => !costs[k] || costs[k].selftrain.length + costs[k].pretrain.length === 0,
  );
  if (need.length > 0) {
    console.log(`estimate: probing ${need.join(', ')} (a few iterations each, 1 thread)`);
    const lib = await loadDist('index.js');
    await setupBackend({ backend: plan.settings.backend });
    const probeDir = await fs.mkdtemp(path.join(os.tmpdir(), 'ssmis-experiment-probe-'));
    try {
      for (const key of need) {
        /** @type {Run} */
        const run =
          key === 'stage1'
            ? { id: 'probe-stage1', kind: 'stage1', method: 'stage1', seed: 1 }
            : {
                id: `probe-${key}`,
                kind: key === 'fully-supervised' ? 'upper' : 'stage2',
                method: key,
                seed: 1,
              };
        const config = runConfig(lib, plan, { dataset, runsDir: probeDir, run, probe: true });
        const t0 = Date.now();
        const result = await lib.train(config, { runDir: path.join(probeDir, run.id) });
        /** @param {'pretrain' | 'selftrain'} stage */
        const rows = (stage) =>
          result.history
            .filter((r) => r.stage === stage)
            .slice(1)
            .map((r) => r.msPerIteration);
        costs[key] = {
          pretrain: [mean(rows('pretrain'))].filter(truthy),
          selftrain: [mean(rows('selftrain'))].filter(truthy),
          overhead: [],
        };
        console.log(`  ${key}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      }
    } finally {
      await fs.rm(probeDir, { recursive: true, force: true });
    }
  }
  return { costs, evalSeconds: mean(evalSeconds) };
}

/**
 * Milliseconds per iteration of each stage and seconds of overhead per run, by row (`stage1` or the method),
 * and the mean seconds of a test evaluation.
 * @typedef {{ costs: Record<string, { pretrain: number[], selftrain: number[], overhead: number[] }>, evalSeconds: number | null }} IterationCosts
 */

/**
 * The numbers of a list that are not 0 (nor null or NaN).
 * @param {number | null} x
 * @returns {x is number}
 */
function truthy(x) {
  return Boolean(x);
}

/**
 * Estimated compute seconds of each pending run (iterations × measured time per iteration + overhead).
 * @param {Plan} plan
 * @param {readonly Run[]} pending
 * @param {IterationCosts} costs
 * @returns {Record<string, number>} by run id
 */
function estimateSeconds(plan, pending, { costs, evalSeconds }) {
  const s = plan.settings;
  /** @type {Record<string, number>} */
  const per = {};
  for (const r of pending) {
    const c = costs[r.kind === 'stage1' ? 'stage1' : r.method] ?? {
      pretrain: [],
      selftrain: [],
      overhead: [],
    };
    const pre = mean(c.pretrain) ?? 0;
    const self = mean(c.selftrain) ?? 0;
    let seconds = 0;
    if (r.kind !== 'stage2') seconds += (s.pretrainIterations * pre) / 1000;
    if (r.kind !== 'stage1') seconds += (s.selftrainIterations * self) / 1000;
    seconds += (mean(c.overhead) ?? 0) + (evalSeconds ?? 0);
    per[r.id] = seconds;
  }
  return per;
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
    // Written by childMain; its plan hash is checked here.
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
    data,
    records,
    notes,
    recordDir: path.relative(path.dirname(out), o.record) || '.',
    command: `node scripts/experiment.mjs --name ${plan.name}${o.quick ? ' --quick' : ''}`,
  });
  await writeTextAtomic(out, markdown);
  console.log(`report: ${path.relative(process.cwd(), out)} (${records.length} run(s))`);
}

/** @param {Options} o */
async function parentMain(o) {
  const plan = await loadOrCreatePlan(o);
  if (o.report) return writeReport(o, plan);
  // Each run gets its share of the cores; the probe below measures with the same share.
  const threads = Math.max(1, Math.floor(os.availableParallelism() / o.jobs));
  process.env.SSMIS_THREADS ??= String(threads);
  const lib = await loadDist('index.js');
  const { dataset, info } = await prepareData(lib, o, plan);
  const pending = await pendingRuns(o, plan);
  const runs = runList(plan);
  console.log(
    `experiment ${plan.name}: ${info.counts.labeled} labeled + ${info.counts.unlabeled} unlabeled training cases, ${info.counts.val} validation, ${info.counts.test} test; ` +
      `seeds ${plan.seeds.join(',')}; rows ${plan.methods.join(', ')}; ${runs.length - pending.length}/${runs.length} runs recorded`,
  );
  if (pending.length === 0) {
    console.log('nothing left to train');
    return writeReport(o, plan);
  }
  const perRun = estimateSeconds(plan, pending, await iterationCosts(o, plan, pending, dataset));
  const total = Object.values(perRun).reduce((a, b) => a + b, 0);
  console.log(
    `estimate: ${pending.length} run(s), ${formatDuration(total)} of compute, about ${formatDuration(total / o.jobs)} with ${o.jobs} job(s) at once`,
  );
  if (o.estimate) return;

  const runsDir = path.join(o.work, 'runs');
  /** @type {Map<string, { child: ChildProcess, done: Promise<{ id: string, code: number }> }>} */
  const running = new Map();
  /** @type {string[]} */
  const failed = [];
  let stopping = false;
  // A signal to this process (not only Ctrl-C at a terminal, which reaches the children too) stops every run
  // after its current iteration, with its `last` checkpoint written.
  /** @param {NodeJS.Signals} signal */
  const stop = (signal) => {
    if (!stopping)
      console.log(`\nexperiment: ${signal}: stopping the running runs after their current iteration`);
    stopping = true;
    for (const { child } of running.values()) child.kill('SIGINT');
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  const queue = [...pending];
  /** @param {Run} r */
  const isReady = async (r) => {
    if (r.kind !== 'stage2') return true;
    // A stage-2 run always names its stage-1 run (runList).
    const stage1 = /** @type {string} */ (r.stage1);
    if (queue.some((q) => q.id === stage1) || running.has(stage1)) return false;
    return trainingFinished(path.join(runsDir, stage1), ['pretrain']);
  };
  const started = Date.now();
  while (queue.length > 0 || running.size > 0) {
    while (!stopping && running.size < o.jobs) {
      let next = -1;
      for (let i = 0; i < queue.length; i++) {
        if (await isReady(queue[i])) {
          next = i;
          break;
        }
      }
      if (next < 0) break;
      const [r] = queue.splice(next, 1);
      console.log(`start ${r.id} (about ${formatDuration(perRun[r.id])})`);
      const c = spawnChild(o, plan, r.id);
      running.set(r.id, { child: c.child, done: c.done.then((code) => ({ id: r.id, code })) });
    }
    if (running.size === 0) {
      if (!stopping && queue.length > 0) failed.push(...queue.map((q) => `${q.id} (its stage-1 run failed)`));
      break;
    }
    const { id, code } = await Promise.race([...running.values()].map((x) => x.done));
    running.delete(id);
    if (code === 130) stopping = true;
    else if (code !== 0) {
      failed.push(id);
      // The runs that need this stage-1 model cannot start.
      for (let i = queue.length - 1; i >= 0; i--)
        if (queue[i].stage1 === id) failed.push(queue.splice(i, 1)[0].id);
    }
    const left = queue.reduce((a, q) => a + perRun[q.id], 0);
    console.log(
      `finished ${id} (exit ${code}); ${queue.length} queued, ${running.size} running; elapsed ${formatDuration((Date.now() - started) / 1000)}, about ${formatDuration(left / o.jobs)} of queued work left`,
    );
  }
  await writeReport(o, plan);
  if (stopping) {
    console.log('experiment: interrupted; run the same command again to continue');
    process.exitCode = 130;
  } else if (failed.length > 0) {
    console.error(`experiment: ${failed.length} run(s) failed: ${failed.join(', ')}`);
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
  if (o.child !== null) {
    // Written by the parent process, which runs this child.
    const plan = /** @type {Plan} */ (await readJson(path.join(o.record, 'plan.json')));
    return childMain(o, plan, o.child);
  }
  return parentMain(o);
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
