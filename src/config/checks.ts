/**
 * Checks of a config that span several keys (errors, reported as zod issues on the key to change) and the warnings
 * `ssmis validate` prints for valid settings known to hurt training.
 */
import { cuboidSize } from '../method/cuboid-size.js';
import { forwardSamples, pairsSubBatches, STEP_BATCHING } from '../method/variants/forwards.js';
import { type MethodName, mixesProblem, type TeacherMode } from '../method/variants/names.js';
import { fullResolutionChannels, inputSizeMultiple } from '../nn/downsampling.js';
import type { RawConfig } from './raw-schema.js';
import { modelDims, resolveDefaults, type SsmisConfig } from './resolve.js';

/** One cross-key problem: the path of the key the user should change and what is wrong with it. */
export type Issue = { path: (string | number)[]; message: string };

/**
 * Largest patch edge accepted (voxels per axis): far above every benchmark's (LA 112, ACDC slices 256), and a
 * 3-D patch of 1024³ already exceeds what one feature map can hold.
 */
export const MAX_PATCH_EDGE = 1024;
/** Most elements of one typed array in Node's V8 (2³²): a larger feature map fails with "Invalid typed array length". */
export const MAX_TYPED_ARRAY_LENGTH = 2 ** 32;

function product(values: readonly number[]): number {
  return values.reduce((a, b) => a * b, 1);
}

/** What {@link trainModeForwards} reads: the same keys in the raw and in the resolved config. */
interface ForwardKeys {
  method: { name: MethodName; teacher: { mode: TeacherMode } };
  train: {
    batch: { labeled: number; unlabeled: number };
    stages: { pretrain: { enabled: boolean }; selftrain: { enabled: boolean } };
  };
}

/** One train-mode forward of an iteration: the samples its batch norm normalises over. */
export interface TrainModeForward {
  samples: number;
  /** The batch key that sets `samples`. */
  batchKey: 'labeled' | 'unlabeled';
  /** Which forward, as the start of a sentence ending in "<samples> sample(s)". */
  what: string;
}

/**
 * The train-mode forwards of a training iteration, read from the variants' {@link STEP_BATCHING}: pre-training's
 * student, then the method's student, then its teacher (in train mode unless method.teacher.mode is eval). The
 * copy-paste teachers' unlabeled/2 forwards are left out: they need as many unlabeled as labeled images, so those
 * forwards are as large as the student's labeled/2, which is reported already.
 *
 * @param config A raw or parsed config (its method, batch and enabled stages).
 * @returns The forwards with at least one sample, in the order above.
 * @example
 * trainModeForwards(config).map((f) => `${f.what} ${f.samples} sample(s)`);
 */
export function trainModeForwards(config: ForwardKeys): TrainModeForward[] {
  const { batch, stages } = config.train;
  const method = config.method.name;
  const forwards: TrainModeForward[] = [];
  const steps = [
    ...(stages.pretrain.enabled ? [{ step: 'pretrain' as const, who: 'pre-training' }] : []),
    ...(stages.selftrain.enabled ? [{ step: method, who: `method '${method}'` }] : []),
  ];
  for (const { step, who } of steps) {
    const { student, teacher, unlabeled } = STEP_BATCHING[step];
    forwards.push({
      samples: forwardSamples(student, batch),
      batchKey: 'labeled',
      what: `${who} forwards ${student} =`,
    });
    if (teacher !== null && config.method.teacher.mode === 'train' && unlabeled !== 'as many as labeled') {
      forwards.push({
        samples: forwardSamples(teacher, batch),
        batchKey: 'unlabeled',
        what: `the teacher of ${who} forwards ${teacher} =`,
      });
    }
  }
  return forwards.filter((forward) => forward.samples > 0);
}

function show(value: unknown): string {
  return JSON.stringify(value);
}

/**
 * Checks that span several keys. Each issue carries the path of the key the user should change. `blocked(path)`
 * says that a field check already reported that key (or something below it): a cross-field issue on it, or one
 * that depends on it, would only repeat the problem.
 */
export function crossCheck(
  raw: RawConfig,
  blocked: (path: readonly (string | number)[]) => boolean,
): Issue[] {
  const issues: Issue[] = [];
  const add = (path: (string | number)[], message: string, dependsOn: (string | number)[][] = []) => {
    if (!blocked(path) && !dependsOn.some(blocked)) issues.push({ path, message });
  };
  const patchDeps = [
    ['data', 'patchSize'],
    ['data', 'sliceResize'],
  ];
  const r = resolveDefaults(raw);
  const modelName = raw.model.name;
  const dims = modelDims(modelName);
  const forModel = `for model.name '${modelName}'`;

  const multiple = inputSizeMultiple(modelName);
  /** Checks a network input size; true when it is usable (so that checks built on it may run). */
  const checkSizes = (key: (string | number)[], sizes: readonly number[]): boolean => {
    if (sizes.length !== dims) {
      add(key, `expected ${dims} sizes ${forModel}, got ${sizes.length} (${show(sizes)})`);
      return false;
    }
    let ok = !blocked(key);
    sizes.forEach((size, i) => {
      if (size > MAX_PATCH_EDGE) {
        add([...key, i], `expected at most ${MAX_PATCH_EDGE} (the largest patch edge accepted), got ${size}`);
        ok = false;
      } else if (size % multiple !== 0) {
        add([...key, i], `expected a multiple of ${multiple} ${forModel}, got ${size}`);
        ok = false;
      }
    });
    return ok;
  };

  // Patch sizes: every axis is halved at each down-sampling of the network.
  const patchKey =
    raw.data.patchSize === undefined && raw.data.sliceResize !== undefined ? 'sliceResize' : 'patchSize';
  const patchOk = checkSizes(['data', patchKey], r.data.patchSize);
  if (dims === 3 && raw.data.sliceResize !== undefined) {
    add(
      ['data', 'sliceResize'],
      `expected no value ${forModel} (2-D only), got ${show(raw.data.sliceResize)}`,
    );
  }
  if (
    dims === 2 &&
    raw.data.sliceResize !== undefined &&
    raw.data.patchSize !== undefined &&
    show(raw.data.sliceResize) !== show(raw.data.patchSize)
  ) {
    add(
      ['data', 'patchSize'],
      `expected the same size as data.sliceResize ${show(raw.data.sliceResize)} ${forModel} (slices are fed whole), got ${show(raw.data.patchSize)}`,
    );
  }
  const evalPatchOk = raw.eval.patch === undefined ? patchOk : checkSizes(['eval', 'patch'], raw.eval.patch);
  if (
    dims === 2 &&
    raw.eval.patch !== undefined &&
    evalPatchOk &&
    show(raw.eval.patch) !== show(r.data.sliceResize)
  ) {
    add(
      ['eval', 'patch'],
      `expected no value or data.sliceResize ${show(r.data.sliceResize)} ${forModel} (a 2-D model sees whole slices resized to data.sliceResize), got ${show(raw.eval.patch)}`,
      patchDeps,
    );
  }
  const checkStrides = (key: (string | number)[], strides: readonly number[]) => {
    if (strides.length !== dims) {
      add(key, `expected ${dims} sizes ${forModel}, got ${strides.length} (${show(strides)})`);
      return;
    }
    strides.forEach((stride, i) => {
      const patch = r.eval.patch[i];
      if (patch !== undefined && stride > patch) {
        add(
          [...key, i],
          `expected at most the eval patch size ${patch} (windows must overlap or touch), got ${stride}`,
          [['eval', 'patch'], ...patchDeps],
        );
      }
    });
  };
  if (raw.eval.strides !== undefined) checkStrides(['eval', 'strides'], raw.eval.strides);
  if (raw.train.validation.strides !== undefined) {
    checkStrides(['train', 'validation', 'strides'], raw.train.validation.strides);
  }

  // Channels.
  const channels = raw.data.channels;
  channels.forEach((channel, i) => {
    if (channels.indexOf(channel) !== i)
      add(['data', 'channels', i], `expected distinct channels, got ${channel} twice`);
  });
  if (raw.model.inChannels !== undefined && raw.model.inChannels !== channels.length) {
    add(
      ['model', 'inChannels'],
      `expected ${channels.length} (the number of data.channels ${show(channels)}), got ${raw.model.inChannels}`,
      [['data', 'channels']],
    );
  }

  // Batches, as the variants split them (STEP_BATCHING): pre-training (E27) and the copy-paste methods pair two
  // labeled sub-batches of labeled/2; the L-U/U-L mixes (E8, E9) paste unlabeled into labeled sub-batches voxel
  // by voxel, so both sub-batches are equal; mean teacher needs some unlabeled images.
  const { pretrain, selftrain } = raw.train.stages;
  const method = raw.method.name;
  const mixing = pairsSubBatches(method);
  const needsPairs = pretrain.enabled || (selftrain.enabled && mixing);
  const { labeled, unlabeled } = raw.train.batch;
  if (needsPairs && labeled % 2 !== 0) {
    const why = [
      pretrain.enabled ? 'pre-training' : '',
      selftrain.enabled && mixing ? `method '${method}'` : '',
    ]
      .filter(Boolean)
      .join(' and ');
    add(
      ['train', 'batch', 'labeled'],
      `expected an even number ≥ 2 (${why} mix two labeled sub-batches of labeled/2), got ${labeled}`,
    );
  }
  const unlabeledRule = STEP_BATCHING[method].unlabeled;
  if (selftrain.enabled && unlabeledRule === 'as many as labeled' && unlabeled !== labeled) {
    add(
      ['train', 'batch', 'unlabeled'],
      `expected ${labeled} (= train.batch.labeled: method '${method}' pastes unlabeled into labeled sub-batches), got ${unlabeled}`,
    );
  }
  if (selftrain.enabled && unlabeledRule === 'at least 1' && unlabeled < 1) {
    add(['train', 'batch', 'unlabeled'], `expected at least 1 for method '${method}', got ${unlabeled}`);
  }

  // Copy-paste mixes: the rule the method variants apply (mixesProblem).
  if (raw.method.mixes !== undefined) {
    const problem = mixesProblem(method, raw.method.mixes);
    if (problem !== undefined) add(['method', 'mixes'], `expected ${problem}`, [['method', 'name']]);
  }

  // Memory: the widest full-resolution feature map of one forward must fit one typed array.
  const width = fullResolutionChannels(modelName, raw.model.baseFilters);
  const forwards = trainModeForwards(raw);
  /** Reports a forward whose largest feature map cannot be allocated; true when it did. */
  const tooLarge = (key: (string | number)[], samples: number, patch: readonly number[], what: string) => {
    const elements = samples * product(patch) * width;
    if (elements <= MAX_TYPED_ARRAY_LENGTH) return false;
    add(
      key,
      `expected a size whose feature maps fit in memory, got ${show(patch)}: ${what} ${samples} sample(s) × ${product(patch)} voxels × ${width} channels = ${elements} values in one feature map, more than the ${MAX_TYPED_ARRAY_LENGTH} a typed array holds`,
    );
    return true;
  };
  let trainTooLarge = false;
  if (patchOk && forwards.length > 0) {
    const largest = forwards.reduce((a, b) => (b.samples > a.samples ? b : a));
    trainTooLarge = tooLarge(['data', patchKey], largest.samples, r.data.patchSize, largest.what);
  }
  const evalFromData = raw.eval.patch === undefined || dims === 2;
  if (evalPatchOk && !blocked(['eval', 'batchWindows']) && !(evalFromData && trainTooLarge)) {
    const evalKey = evalFromData ? ['data', patchKey] : ['eval', 'patch'];
    const evalSize = dims === 2 ? (r.data.sliceResize ?? r.data.patchSize) : r.eval.patch;
    tooLarge(evalKey, raw.eval.batchWindows, evalSize, 'evaluation forwards eval.batchWindows =');
  }

  // Train-mode batch norm needs more than one value per channel (it refuses one, as PyTorch does): the smallest
  // feature map is patch / 2^down-samplings per axis, times the samples of the forward.
  if (patchOk) {
    const bottleneck = r.data.patchSize.map((size) => size / multiple);
    for (const forward of forwards) {
      if (forward.samples * product(bottleneck) > 1) continue;
      add(
        ['train', 'batch', forward.batchKey],
        `expected a batch that gives train-mode batch norm more than 1 value per channel, got ${raw.train.batch[forward.batchKey]}: ${forward.what} ${forward.samples} sample(s), and the smallest feature map of patch ${show(r.data.patchSize)} is ${bottleneck.join('×')} (1/${multiple} per axis); use a larger batch or patch`,
        patchDeps,
      );
      break;
    }
  }

  // Stages.
  if (!pretrain.enabled && !selftrain.enabled) {
    add(['train', 'stages'], 'expected at least one of pretrain and selftrain enabled, got both disabled');
  }
  if (selftrain.carryOptimizer) {
    if (!pretrain.enabled) {
      add(
        ['train', 'stages', 'selftrain', 'carryOptimizer'],
        'expected false when train.stages.pretrain is disabled (there is no optimizer state to carry), got true',
      );
    } else if (pretrain.optimizer.name !== selftrain.optimizer.name) {
      add(
        ['train', 'stages', 'selftrain', 'carryOptimizer'],
        `expected false when the stages use different optimizers (${pretrain.optimizer.name} then ${selftrain.optimizer.name}), got true`,
      );
    }
  }
  if (selftrain.initFrom === 'best' && raw.train.validation.split === 'none') {
    add(
      ['train', 'stages', 'selftrain', 'initFrom'],
      "expected 'last' when train.validation.split is 'none' (no best checkpoint is selected), got 'best'",
    );
  }
  for (const stage of ['pretrain', 'selftrain'] as const) {
    const optimizer = raw.train.stages[stage].optimizer;
    if (optimizer.name === 'sgd' && optimizer.nesterov && optimizer.momentum === 0) {
      add(['train', 'stages', stage, 'optimizer', 'nesterov'], 'expected false when momentum is 0, got true');
    }
  }

  // Cuboid (E1, E2): numpy randint(0, R − size) needs R − size ≥ 1.
  const usesCuboid = pretrain.enabled || (selftrain.enabled && mixing);
  const sizes = cuboidSize(r.data.patchSize, raw.method.maskRatio);
  const emptyAxis = sizes.findIndex((size) => size < 1);
  if (usesCuboid && r.data.patchSize.length === dims && emptyAxis >= 0) {
    add(
      ['method', 'maskRatio'],
      `expected a ratio giving a cuboid of at least 1 voxel on axis ${emptyAxis} (patch ${r.data.patchSize[emptyAxis]}), got ${raw.method.maskRatio}`,
      patchDeps,
    );
  }
  if (raw.method.referenceStartRange !== undefined && raw.method.referenceStartRange.length !== dims) {
    const range = raw.method.referenceStartRange;
    add(
      ['method', 'referenceStartRange'],
      `expected ${dims} sizes ${forModel}, got ${range.length} (${show(range)})`,
    );
  } else if (usesCuboid && raw.method.startRange === 'reference' && r.data.patchSize.length === dims) {
    const range = r.method.referenceStartRange;
    const defaulted = raw.method.referenceStartRange === undefined;
    range.forEach((extent, i) => {
      const size = sizes[i] ?? 0;
      if (extent <= size) {
        add(
          ['method', 'referenceStartRange', i],
          `expected more than the cuboid size ${size} (floor(${r.data.patchSize[i]} × ${raw.method.maskRatio})) so that randint(0, range − size) has a value, got ${extent}` +
            (defaulted
              ? ' (the default; set method.startRange: valid or a larger method.referenceStartRange)'
              : ''),
          [['method', 'maskRatio'], ...patchDeps],
        );
      }
    });
  }

  // Connectivity per dimensionality (Q15).
  const allowed = dims === 3 ? [6, 18, 26] : [4, 8];
  const checkConnectivity = (key: string[], value: number | undefined) => {
    if (value !== undefined && !allowed.includes(value)) {
      add(key, `expected one of ${allowed.join(', ')} ${forModel}, got ${value}`);
    }
  };
  checkConnectivity(['method', 'pseudoLabel', 'connectivity'], raw.method.pseudoLabel.connectivity);
  checkConnectivity(['eval', 'connectivity'], raw.eval.connectivity);
  return issues;
}

/** A setting that is valid but known to hurt: the key to change and why. */
export interface ConfigWarning {
  /** Key path such as `train.batch.labeled`. */
  path: string;
  message: string;
}

/**
 * Valid settings that are known to hurt training, for `ssmis validate` to print: a train-mode forward of a single
 * sample makes batch norm normalise each sample by its own statistics (the running statistics used at evaluation
 * then describe another distribution). A forward whose batch norm would see only one value is an error instead.
 *
 * @param config A parsed config.
 * @returns One warning per batch key whose forwards see a single sample (empty when none).
 * @example
 * for (const w of configWarnings(config)) console.warn(`${w.path}: ${w.message}`);
 */
export function configWarnings(config: SsmisConfig): ConfigWarning[] {
  const warnings: ConfigWarning[] = [];
  for (const batchKey of ['labeled', 'unlabeled'] as const) {
    const single = trainModeForwards(config).filter((f) => f.batchKey === batchKey && f.samples === 1);
    if (single.length === 0) continue;
    warnings.push({
      path: `train.batch.${batchKey}`,
      message: `${single.map((f) => `${f.what} 1 sample`).join('; ')}: train-mode batch norm then normalises each sample by its own statistics, unlike the running statistics used at evaluation (use a larger batch)`,
    });
  }
  return warnings;
}
