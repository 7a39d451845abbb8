/**
 * ssmis: the public library API, what a Node project imports from `'ssmis'`.
 *
 * Every name is exported on purpose, section by section (config, data, I/O, networks, method, inference and
 * evaluation, training, backend, utilities). `tests/public-api.test.ts` lists them, so a change to this surface is
 * a deliberate one. Helpers that only serve these entry points (augmentation steps, window grids, distance
 * transforms, file-format codecs, internal constants) stay importable from their own modules for the tests but
 * are not part of the API. `tf` is the TF.js namespace ssmis runs on (`@tensorflow/tfjs` 4.22), re-exported
 * unchanged so that tensors passed in and out come from the same copy; it is documented by TF.js, not here.
 *
 * The API reference in docs/api is generated from the TSDoc comments by `npm run docs:api` (TypeDoc, typedoc.json);
 * run it after changing an exported name or its comment, and commit the result.
 *
 * @packageDocumentation
 */

// Config: load, check and write experiment configs.

export {
  ConfigError,
  type ConfigProblem,
  type ConfigYamlOptions,
  configToYaml,
  type LoadedConfig,
  type LoadOptions,
  loadConfig,
  METHOD_NAMES,
  type MethodName,
  type ParseOptionsConfig,
  parseConfig,
  type SsmisConfig,
  type SsmisConfigInput,
} from './config/index.js';

// Data: raw downloads → canonical dataset folders, synthetic phantoms, opening a dataset, training batches.

export {
  type Augment3dOptions,
  BatchLoader,
  type BatchLoaderOptions,
  type BatchLoaderState,
  disposeBatch,
  type TrainingBatch,
} from './data/batches.js';
export {
  type Dataset,
  type DatasetInfo,
  type LoadedCase,
  type OpenDatasetOptions,
  openDataset,
  type SplitName,
  type ValidationProblem,
  type ValidationReport,
  validateDataset,
} from './data/dataset.js';
export {
  type PrepareCaseEvent,
  type PrepareOptions,
  type PrepareProgress,
  type PrepareResult,
  prepareDataset,
} from './data/prepare/index.js';
export {
  type SamplerState,
  TwoStreamBatchSampler,
  type TwoStreamBatchSamplerOptions,
} from './data/sampler.js';
export {
  LA_DIFFICULTY_PRESETS,
  type LaDifficulty,
  type LaDifficultyOverrides,
  type LaDifficultyPreset,
  type SynthDifficulty,
  type SynthesizeOptions,
  type SynthesizeResult,
  type SynthProgress,
  synthesize,
} from './data/synth/index.js';

// I/O: medical volumes (NIfTI, NRRD) and tensor files (safetensors).

export {
  type NiftiHeaderInfo,
  type NiftiWriteDatatype,
  readNifti,
  readNiftiHeader,
  type VolumeFromArrayOptions,
  volumeFromArray,
  type WriteNiftiOptions,
  writeNifti,
} from './io/nifti.js';
export { readNrrd, type WriteNrrdOptions, writeNrrd } from './io/nrrd.js';
export {
  readSafetensors,
  type SafetensorsFile,
  type SafetensorsTensor,
  writeSafetensors,
} from './io/safetensors.js';
export type { Affine, NiftiGeometry, Volume, VoxelArray } from './io/volume.js';

// Networks: VNet and 2-D UNet, the network of a config, the EMA teacher, weight files.

export {
  fromPyTorchLayout,
  type LoadedWeights,
  type LoadWeightsOptions,
  loadWeights,
  type OptimizerState,
  type SaveWeightsOptions,
  saveWeights,
  toPyTorchLayout,
} from './nn/checkpoint.js';
export { createModel } from './nn/create.js';
export { copyWeights, createTeacher, type EmaOptions, updateEma } from './nn/ema.js';
export type { ApplyOptions, CloneOptions, SegmentationModel } from './nn/types.js';
export {
  createUNet2d,
  type ResolvedUNet2dOptions,
  type UNet2dModel,
  type UNet2dOptions,
  unet2dParameterCount,
} from './nn/unet2d.js';
export {
  createVNet,
  type ResolvedVNetOptions,
  type VNetModel,
  type VNetOptions,
  vnetParameterCount,
} from './nn/vnet.js';

// Method: the paper's primitives (pure tensor functions) and the method variants that turn a batch into a loss.

export { type Connectivity, largestConnectedComponent } from './method/connected-components.js';
export {
  type CpamTrcmLossInputs,
  type CpamTrcmLossParts,
  cpamTrcmLoss,
} from './method/cpam-trcm-loss.js';
export { type CuboidMask, type CuboidOptions, cuboidMask } from './method/cuboid.js';
export { type MixTermLoss, maskedCrossEntropy, maskedDiceLoss, mixLoss } from './method/losses.js';
export { mixImages, mixLabels } from './method/mix.js';
export { type PseudoLabelOptions, pseudoLabels } from './method/pseudo-labels.js';
export { type TrcmMasks, trcmMasks } from './method/trcm.js';
export {
  getMethodVariant,
  type MethodVariant,
  methodVariants,
  type PreparedStep,
  pretrainStep,
  type StepBatch,
  type StepConfig,
  type StepContext,
  type StepLoss,
} from './method/variants/index.js';

// Inference and evaluation: a model on a volume or a case, metrics, protocols, reports, prediction.

export {
  type EvaluateFilesOptions,
  type EvaluateModelOptions,
  type EvaluateOptions,
  type EvaluationProgress,
  type EvaluationResult,
  evaluate,
  evaluateFiles,
  evaluateModel,
  type FinalEvaluationOptions,
  finalEvaluation,
} from './eval/evaluate.js';
export { computeMetrics, type MetricOptions, type SegmentationMetrics } from './eval/metrics.js';
export { type PredictedCase, type PredictOptions, type PredictResult, predict } from './eval/predict.js';
export {
  type CaseEvaluation,
  type ClassMetrics,
  type ClassSummary,
  type DistanceUnits,
  type EvaluateCaseOptions,
  type EvaluationProtocol,
  type EvaluationSummary,
  evaluateCase,
  METRIC_NAMES,
  type MetricName,
  type MetricSummary,
  summarizeCases,
} from './eval/protocol.js';
export {
  type EvaluationReport,
  formatReportHeader,
  formatSummaryTable,
} from './eval/report.js';
export { type InferenceCase, type InferenceSettings, inferCase } from './infer/infer-case.js';
export {
  type InferenceModel,
  inferVolume,
  type SliceInferenceOptions,
  type SlidingWindowOptions,
  type SlidingWindowResult,
  slidingWindowInference,
  slidingWindowInference2d,
  type VolumeInferenceOptions,
  type VolumeInput,
} from './infer/sliding-window.js';

// Training: the training engine, its optimizers and learning-rate schedules.

export {
  AdamOptimizer,
  createOptimizer,
  type Optimizer,
  type OptimizerConfig,
  SgdOptimizer,
} from './train/optimizer.js';
export { learningRate, type ScheduleSpec } from './train/schedule.js';
export {
  type FinalEvaluationContext,
  type TrainEvent,
  type TrainOptions,
  type TrainResult,
  train,
} from './train/train.js';

// Backend: choosing the TF.js backend, and the TF.js namespace ssmis runs on.

export { settleHostReads } from './backend/host-read.js';
export {
  type ActiveBackend,
  type BackendChoice,
  type BackendInfo,
  initBackend,
  type WebGpuAdapter,
} from './backend/init.js';
export { tf } from './backend/tf.js';

// Utilities and errors: the error classes every entry point throws, the seeded generator, atomic writes.

export { writeFileAtomic } from './util/atomic.js';
export { InputError, SsmisError } from './util/errors.js';
export { Rng, type RngState } from './util/rng.js';
