#!/usr/bin/env node
/**
 * The semi-supervised experiment of issue 8, against the compiled library in `dist/` (`npm run build` first).
 *
 * On synthetic LA-like phantoms (default 24 cases → 2 labeled + 14 unlabeled training cases and 8 held-out
 * test cases) it trains `supervised`, `mean-teacher`, `bcp`, `cpam` and `cpam-trcm` with the same labeled
 * cases, seeds and iteration budget, evaluates each final model on the test split under the strict protocol,
 * and writes `docs/results.md` (table of Dice, Jaccard, HD95, ASD as mean ± std over seeds, time per
 * iteration, protocol, command, machine, findings) and `<out>/results.json`.
 *
 * Fairness (a choice, stated in results.md): stage 1 (copy-paste pre-training on labeled pairs, E27) depends
 * only on the seed and the labeled cases, so it runs ONCE per seed (`runs/stage1-seed<s>`, evaluated too, as
 * the "stage 1 only" row) and every method's run starts as a copy of that folder, resumed into its own stage 2
 * (train's resume is bit-exact on the cpu backend, so this equals running both stages per method). The
 * methods thus differ only in stage 2; `supervised` is the labeled-only continuation with the same budget.
 * `--baselines-from-scratch` instead trains supervised and mean-teacher without stage 1 for the same total
 * number of iterations (the papers' baselines). No model selection (`validation.split: none`): the test
 * split is only used for the final evaluation.
 *
 * Usage: node scripts/experiment.mjs [options]
 *   --seeds N                  seeds 1..N (default 3)
 *   --iterations-pretrain N    stage-1 iterations (default 200)
 *   --iterations-selftrain N   stage-2 iterations (default 200)
 *   --base-filters N           VNet width (default 4)
 *   --patch N | X,Y,Z          training and evaluation patch (default 32)
 *   --cases N                  synthetic cases; a third are test cases (default 24)
 *   --labeled N                labeled training cases (default 2)
 *   --lr X                     SGD learning rate of both stages (default 0.05)
 *   --methods a,b              subset of supervised,mean-teacher,bcp,cpam,cpam-trcm
 *   --out DIR                  work folder: data/, runs/, results.json (default runs/experiment)
 *   --results FILE             markdown report (default docs/results.md; with --quick: <out>/results.md)
 *   --quick                    smoke configuration: 1 seed, 12 cases, 10 + 10 iterations
 *   --resume                   continue: runs with eval/summary.json are skipped, interrupted runs resume
 *   --force                    delete the work folder's data/ and runs/ first
 *   --baselines-from-scratch   supervised and mean-teacher skip stage 1 (same total iterations)
 *   --backend NAME             auto (default), cpu, tensorflow, tensorflow-gpu
 *   --teacher-mode train|eval  teacher forward mode (default train, the reference's quirk Q3)
 *   --dropout X                Dropout3d rate of the VNet (default 0.5)
 * Ctrl-C writes the current run's `last` checkpoint; rerun with --resume to continue. Each run folder keeps its
 * compute time (training + evaluation, summed over resumes) in `experiment-time.json`.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  METHOD_LABELS,
  msPerIterationFromCsv,
  renderResultsMarkdown,
  summarizeMethod,
} from './lib/report.mjs';
import { loadDist, machineInfo, setupBackend } from './lib/runtime.mjs';
import { formatTable } from './lib/stats.mjs';

const ALL_METHODS = ['supervised', 'mean-teacher', 'bcp', 'cpam', 'cpam-trcm'];
const SCRATCH_CAPABLE = ['supervised', 'mean-teacher'];

class UsageError extends Error {}

function positiveInt(value, name) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`--${name}: expected a positive integer, got ${value}`);
  return n;
}

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      seeds: { type: 'string' },
      'iterations-pretrain': { type: 'string' },
      'iterations-selftrain': { type: 'string' },
      'base-filters': { type: 'string' },
      patch: { type: 'string' },
      cases: { type: 'string' },
      labeled: { type: 'string' },
      lr: { type: 'string' },
      methods: { type: 'string' },
      out: { type: 'string' },
      results: { type: 'string' },
      quick: { type: 'boolean', default: false },
      resume: { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      'baselines-from-scratch': { type: 'boolean', default: false },
      backend: { type: 'string', default: 'auto' },
      'teacher-mode': { type: 'string', default: 'train' },
      dropout: { type: 'string', default: '0.5' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return { help: true };
  const q = values.quick;
  const patchText = values.patch ?? '32';
  const patchParts = patchText.split(',').map((p) => positiveInt(p.trim(), 'patch'));
  if (patchParts.length !== 1 && patchParts.length !== 3) {
    throw new UsageError(`--patch: expected N or X,Y,Z, got ${patchText}`);
  }
  const patch = patchParts.length === 1 ? [patchParts[0], patchParts[0], patchParts[0]] : patchParts;
  const methods = (values.methods ?? ALL_METHODS.join(','))
    .split(',')
    .map((m) => m.trim())
    .filter(Boolean);
  for (const m of methods) {
    if (!ALL_METHODS.includes(m)) {
      throw new UsageError(`--methods: unknown method '${m}', expected some of ${ALL_METHODS.join(', ')}`);
    }
  }
  if (values.resume && values.force) throw new UsageError('--resume and --force exclude each other');
  const lr = Number(values.lr ?? '0.05');
  if (!(lr > 0)) throw new UsageError(`--lr: expected a positive number, got ${values.lr}`);
  const out = path.resolve(values.out ?? path.join('runs', q ? 'experiment-quick' : 'experiment'));
  const labeled = positiveInt(values.labeled ?? '2', 'labeled');
  const teacherMode = values['teacher-mode'];
  if (teacherMode !== 'train' && teacherMode !== 'eval') {
    throw new UsageError(`--teacher-mode: expected train or eval, got ${teacherMode}`);
  }
  const dropout = Number(values.dropout);
  if (!(dropout >= 0 && dropout < 1))
    throw new UsageError(`--dropout: expected a number in [0, 1), got ${values.dropout}`);
  return {
    help: false,
    seeds: positiveInt(values.seeds ?? (q ? '1' : '3'), 'seeds'),
    pretrainIterations: positiveInt(
      values['iterations-pretrain'] ?? (q ? '10' : '200'),
      'iterations-pretrain',
    ),
    selftrainIterations: positiveInt(
      values['iterations-selftrain'] ?? (q ? '10' : '200'),
      'iterations-selftrain',
    ),
    baseFilters: positiveInt(values['base-filters'] ?? '4', 'base-filters'),
    patch,
    cases: positiveInt(values.cases ?? (q ? '12' : '24'), 'cases'),
    labeled,
    lr,
    methods,
    out,
    results: path.resolve(
      values.results ?? (q ? path.join(out, 'results.md') : path.join('docs', 'results.md')),
    ),
    quick: q,
    resume: values.resume,
    force: values.force,
    baselinesFromScratch: values['baselines-from-scratch'],
    backend: values.backend,
    teacherMode,
    dropout,
  };
}

/** What decides the numbers: a resumed experiment must have the same plan. */
function planOf(o) {
  return {
    seeds: o.seeds,
    pretrainIterations: o.pretrainIterations,
    selftrainIterations: o.selftrainIterations,
    baseFilters: o.baseFilters,
    patch: o.patch,
    cases: o.cases,
    labeled: o.labeled,
    lr: o.lr,
    baselinesFromScratch: o.baselinesFromScratch,
    synthSeed: SYNTH_SEED,
    synthSize: SYNTH_SIZE,
    // Only when changed, so experiments started before these options existed still resume.
    ...(o.teacherMode !== 'train' ? { teacherMode: o.teacherMode } : {}),
    ...(o.dropout !== 0.5 ? { dropout: o.dropout } : {}),
  };
}

const SYNTH_SEED = 2024;
/** The `ssmis synth` LA default: big enough for a 32³ patch after the prepare crop. */
const SYNTH_SIZE = [64, 64, 40];

async function prepareData(lib, o, dataDir) {
  const dataset = path.join(dataDir, 'dataset');
  if (existsSync(path.join(dataset, 'dataset.json'))) return dataset;
  const raw = path.join(dataDir, 'raw');
  console.log(`data: synthesising ${o.cases} LA-like phantoms (${SYNTH_SIZE.join('×')}) into ${dataDir}`);
  // force: an interrupted earlier run may have left its own phantoms here (synth removes only what it wrote).
  await lib.synthesize({
    dataset: 'la',
    out: raw,
    cases: o.cases,
    seed: SYNTH_SEED,
    size: SYNTH_SIZE,
    force: true,
  });
  const result = await lib.prepareDataset({
    dataset: 'la',
    raw,
    out: dataset,
    seed: SYNTH_SEED,
    minSize: o.patch,
    force: true,
  });
  if (result.failed.length > 0) {
    throw new Error(`prepare failed for ${result.failed.length} case(s): ${result.failed[0].error}`);
  }
  return dataset;
}

/**
 * The config of one run. Stage-2 iterations, the method and (for from-scratch baselines) a disabled stage 1
 * vary; everything else is shared so that stage 1 is identical across the methods of a seed.
 */
function runConfig(lib, o, { dataset, runsDir, name, method, seed, stage1Only, scratch }) {
  const selftrainIterations = scratch ? o.pretrainIterations + o.selftrainIterations : o.selftrainIterations;
  const strides = o.patch.map((p) => Math.max(1, Math.floor(p / 2)));
  return lib.parseConfig({
    run: { name, outputDir: runsDir, description: `scripts/experiment.mjs: ${method}, seed ${seed}` },
    backend: { name: o.backend },
    data: { dataset, preset: 'la', patchSize: o.patch, labeled: { count: o.labeled } },
    model: { name: 'vnet', baseFilters: o.baseFilters, dropout: o.dropout },
    method: {
      name: method,
      startRange: 'valid',
      teacher: { mode: o.teacherMode },
      // The reference ramps the consistency weight over 6000 of 15000 iterations: keep that 40 % ratio.
      consistency: { rampupIterations: Math.max(1, Math.round(0.4 * selftrainIterations)) },
    },
    train: {
      seed,
      batch: { labeled: 2, unlabeled: 2 },
      stages: {
        pretrain: {
          enabled: !scratch,
          iterations: o.pretrainIterations,
          optimizer: { name: 'sgd', lr: o.lr },
          schedule: 'constant',
        },
        selftrain: {
          enabled: !stage1Only,
          iterations: selftrainIterations,
          optimizer: { name: 'sgd', lr: o.lr },
          schedule: { name: 'poly', power: 0.9 },
        },
      },
      validation: { split: 'none' },
      checkpointInterval: Math.max(10, Math.round(selftrainIterations / 5)),
      logInterval: Math.max(1, Math.min(10, Math.round(selftrainIterations / 10))),
    },
    eval: { patch: o.patch, strides, protocol: 'strict', split: 'test', savePredictions: false },
  });
}

function progressPrinter(label) {
  let lastPrinted = 0;
  return (event) => {
    if (event.type !== 'iteration') return;
    const step = Math.max(1, Math.floor(event.iterations / 5));
    if (event.iteration % step !== 0 && event.iteration !== event.iterations) return;
    if (event.iteration === lastPrinted) return;
    lastPrinted = event.iteration;
    console.log(
      `  [${label}] ${event.stage} ${event.iteration}/${event.iterations}  loss ${event.loss.toFixed(4)}  ${(event.msPerIteration / 1000).toFixed(2)} s/it`,
    );
  };
}

async function readJson(file) {
  return JSON.parse(await fs.readFile(file, 'utf8'));
}

const TIME_FILE = 'experiment-time.json';

/** Adds to a run's compute time (training + final evaluation), kept across resumes in `experiment-time.json`. */
async function addRunSeconds(lib, runDir, seconds) {
  const file = path.join(runDir, TIME_FILE);
  let before = 0;
  try {
    before = (await readJson(file)).seconds ?? 0;
  } catch {
    before = 0;
  }
  await lib.writeFileAtomic(file, `${JSON.stringify({ seconds: before + seconds })}\n`);
}

/** The numbers of a finished run: test metrics (mean over cases) and the mean time per iteration. */
async function collectRun(runDir, seed) {
  const summary = await readJson(path.join(runDir, 'eval', 'summary.json'));
  const overall = summary.overall;
  const times = msPerIterationFromCsv(await fs.readFile(path.join(runDir, 'metrics.csv'), 'utf8'));
  let wallSeconds = null;
  try {
    wallSeconds = (await readJson(path.join(runDir, TIME_FILE))).seconds ?? null;
  } catch {
    wallSeconds = null;
  }
  return {
    seed,
    metrics: {
      dice: overall.dice.mean,
      jaccard: overall.jaccard.mean,
      hd95: overall.hd95.mean,
      asd: overall.asd.mean,
    },
    missing: { hd95: overall.hd95.missing, asd: overall.asd.missing },
    emptyPredictions: summary.emptyPredictions,
    msPerIteration: times,
    wallSeconds,
    protocol: summary.protocol,
    units: summary.units,
    numCases: summary.numCases,
  };
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
  const started = Date.now();
  const lib = await loadDist('index.js');
  const backend = await setupBackend({ backend: o.backend });
  const dataDir = path.join(o.out, 'data');
  const runsDir = path.join(o.out, 'runs');
  const planFile = path.join(o.out, 'experiment.json');
  const plan = planOf(o);

  if (o.force) {
    await fs.rm(dataDir, { recursive: true, force: true });
    await fs.rm(runsDir, { recursive: true, force: true });
    await fs.rm(planFile, { force: true });
  }
  if (existsSync(planFile)) {
    const before = (await readJson(planFile)).plan;
    const differs = Object.keys(plan).filter((k) => JSON.stringify(before[k]) !== JSON.stringify(plan[k]));
    if (!o.resume) {
      console.error(
        `experiment: ${o.out} already holds an experiment; pass --resume to continue it or --force to start over`,
      );
      process.exit(2);
    }
    if (differs.length > 0) {
      console.error(
        `experiment: cannot resume ${o.out}: ${differs.map((k) => `${k} was ${JSON.stringify(before[k])}, now ${JSON.stringify(plan[k])}`).join('; ')}`,
      );
      process.exit(2);
    }
  }
  await fs.mkdir(o.out, { recursive: true });
  await lib.writeFileAtomic(planFile, `${JSON.stringify({ plan }, null, 2)}\n`);

  const dataset = await prepareData(lib, o, dataDir);
  const ds = await lib.openDataset(dataset);
  const trainIds = ds.ids('train');
  const testIds = ds.ids('test');
  if (o.labeled % 2 !== 0 || o.labeled >= trainIds.length) {
    console.error(
      `experiment: --labeled ${o.labeled}: expected an even number below the ${trainIds.length} training cases (stage 1 pairs labeled cases)`,
    );
    process.exit(2);
  }
  if (testIds.length === 0) {
    console.error(`experiment: the dataset ${dataset} has no test case; use more --cases`);
    process.exit(2);
  }
  const m = machineInfo();
  console.log(
    `experiment: ${o.labeled} labeled + ${trainIds.length - o.labeled} unlabeled training cases, ${testIds.length} test cases; ` +
      `methods ${o.methods.join(', ')}; seeds 1..${o.seeds}; ${o.pretrainIterations} + ${o.selftrainIterations} iterations; ` +
      `VNet base ${o.baseFilters}, patch ${o.patch.join('×')}; backend ${backend.active}${backend.fastKernels ? ' (fast kernels)' : ''}; ${m.cpuModel}`,
  );

  const controller = new AbortController();
  let sigints = 0;
  process.on('SIGINT', () => {
    sigints++;
    if (sigints > 1) process.exit(130);
    console.log('\nexperiment: stopping after the current iteration (Ctrl-C again to quit at once)');
    controller.abort();
  });

  const finalHook = async (context) => {
    await lib.finalEvaluation(context);
  };
  /** Trains (or resumes) one run folder; returns false when interrupted. */
  const runOne = async (config, runDir, label, mode) => {
    const hasState = existsSync(path.join(runDir, 'checkpoints', 'last.json'));
    const t0 = Date.now();
    const result = await lib.train(config, {
      runDir,
      resume: mode === 'resume' || (mode === 'fresh' && hasState),
      force: mode === 'fresh' && !hasState,
      finalEvaluation: finalHook,
      signal: controller.signal,
      onEvent: progressPrinter(label),
    });
    await addRunSeconds(lib, runDir, (Date.now() - t0) / 1000);
    if (result.interrupted) return false;
    console.log(`  [${label}] done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    return true;
  };
  const done = (runDir) => existsSync(path.join(runDir, 'eval', 'summary.json'));
  const interrupted = () => {
    console.log(`experiment: interrupted; rerun the same command with --resume to continue`);
    process.exit(130);
  };

  const seeds = Array.from({ length: o.seeds }, (_, i) => i + 1);
  const stage1Runs = [];
  const methodRuns = new Map(o.methods.map((name) => [name, []]));
  const needsStage1 = o.methods.some((name) => !(o.baselinesFromScratch && SCRATCH_CAPABLE.includes(name)));
  for (const seed of seeds) {
    const stage1Dir = path.join(runsDir, `stage1-seed${seed}`);
    if (needsStage1) {
      if (done(stage1Dir)) {
        console.log(`stage 1, seed ${seed}: done (skipped)`);
      } else {
        console.log(`stage 1, seed ${seed}: copy-paste pre-training`);
        const config = runConfig(lib, o, {
          dataset,
          runsDir,
          name: `stage1-seed${seed}`,
          method: 'cpam-trcm',
          seed,
          stage1Only: true,
          scratch: false,
        });
        if (!(await runOne(config, stage1Dir, `stage 1 seed ${seed}`, 'fresh'))) interrupted();
      }
      stage1Runs.push(await collectRun(stage1Dir, seed));
    }
    for (const method of o.methods) {
      const name = `${method}-seed${seed}`;
      const runDir = path.join(runsDir, name);
      const label = `${method} seed ${seed}`;
      if (done(runDir)) {
        console.log(`${label}: done (skipped)`);
        methodRuns.get(method).push(await collectRun(runDir, seed));
        continue;
      }
      const scratch = o.baselinesFromScratch && SCRATCH_CAPABLE.includes(method);
      const config = runConfig(lib, o, { dataset, runsDir, name, method, seed, stage1Only: false, scratch });
      let mode = 'fresh';
      if (!scratch) {
        mode = 'resume';
        if (!existsSync(path.join(runDir, 'checkpoints', 'last.json'))) {
          // Start from this seed's stage-1 folder (its eval/ left out), with this run's own config.yaml.
          await fs.rm(runDir, { recursive: true, force: true });
          const tmp = `${runDir}.tmp-copy`;
          await fs.rm(tmp, { recursive: true, force: true });
          await fs.cp(stage1Dir, tmp, {
            recursive: true,
            filter: (src) => !['eval', TIME_FILE].includes(path.relative(stage1Dir, src).split(path.sep)[0]),
          });
          await lib.writeFileAtomic(path.join(tmp, 'config.yaml'), lib.configToYaml(config));
          await fs.rename(tmp, runDir);
        }
      }
      console.log(`${label}: stage 2${scratch ? ' from scratch' : ' from the stage-1 model'}`);
      if (!(await runOne(config, runDir, label, mode))) interrupted();
      methodRuns.get(method).push(await collectRun(runDir, seed));
    }
  }

  const first = stage1Runs[0] ?? [...methodRuns.values()][0]?.[0];
  // The command that reproduces the numbers: --resume/--force only say how this invocation got there.
  const args = process.argv.slice(2).filter((a) => a !== '--resume' && a !== '--force');
  const command = `node scripts/experiment.mjs ${args.join(' ')}`.trim();
  const allRuns = [...stage1Runs, ...[...methodRuns.values()].flat()];
  const computeSeconds = allRuns.reduce((a, r) => a + (r.wallSeconds ?? 0), 0);
  const input = {
    command,
    createdAt: new Date().toISOString(),
    quick: o.quick,
    machine: m,
    backend: {
      active: backend.active,
      tfjsVersion: backend.tfjsVersion,
      fastKernels: backend.fastKernels,
      kernelWorkers: backend.kernelWorkers,
    },
    setup: {
      totalCases: o.cases,
      labeled: o.labeled,
      unlabeled: trainIds.length - o.labeled,
      test: testIds.length,
      synthSize: SYNTH_SIZE,
      synthSeed: SYNTH_SEED,
      patch: o.patch,
      baseFilters: o.baseFilters,
      seeds,
      pretrainIterations: o.pretrainIterations,
      selftrainIterations: o.selftrainIterations,
      lr: o.lr,
      batch: { labeled: 2, unlabeled: 2 },
      rampupIterations: Math.max(1, Math.round(0.4 * o.selftrainIterations)),
      baselinesFromScratch: o.baselinesFromScratch,
      teacherMode: o.teacherMode,
      dropout: o.dropout,
      evalPatch: o.patch,
      evalStrides: o.patch.map((p) => Math.max(1, Math.floor(p / 2))),
      units: first?.units ?? 'mm',
      computeMinutes: computeSeconds / 60,
    },
    stage1: needsStage1 ? { method: 'stage1-only', runs: stage1Runs } : null,
    methods: o.methods.map((method) => ({ method, runs: methodRuns.get(method) })),
  };
  await lib.writeFileAtomic(path.join(o.out, 'results.json'), `${JSON.stringify(input, null, 2)}\n`);
  await fs.mkdir(path.dirname(o.results), { recursive: true });
  await lib.writeFileAtomic(o.results, `${renderResultsMarkdown(input)}\n`);

  const rows = [...(input.stage1 ? [input.stage1] : []), ...input.methods].map((r) => {
    const s = summarizeMethod(r);
    const f = (k, scale) =>
      s.metrics[k].mean === null
        ? '–'
        : `${(s.metrics[k].mean * scale).toFixed(2)}${s.metrics[k].n > 1 ? ` ± ${(s.metrics[k].std * scale).toFixed(2)}` : ''}`;
    const ms = r.method === 'stage1-only' ? s.msPerIteration.pretrain : s.msPerIteration.selftrain;
    return [
      METHOD_LABELS[r.method] ?? r.method,
      f('dice', 100),
      f('jaccard', 100),
      f('hd95', 1),
      f('asd', 1),
      ms === null ? '–' : `${(ms / 1000).toFixed(2)} s`,
    ];
  });
  console.log(`\n${formatTable(['method', 'Dice %', 'Jaccard %', 'HD95', 'ASD', 's/iter'], rows)}`);
  console.log(
    `\nexperiment: ${((Date.now() - started) / 60000).toFixed(1)} min; report ${o.results}; data ${path.join(o.out, 'results.json')}`,
  );
  backend.kernels?.unregisterFastKernels();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error) => {
    console.error(`experiment: ${error instanceof Error ? (error.stack ?? error.message) : error}`);
    process.exit(error?.name === 'InputError' || error instanceof UsageError ? 2 : 1);
  });
}
