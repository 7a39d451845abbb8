/**
 * ssmis: the public library API. The exported names are a contract (users and tests import them from the package
 * root, and `tests/index.test.ts` pins them); everything a Node project may use (configs, data, networks, method
 * primitives, training, evaluation) is exported here.
 */

// Backend
export { type ActiveBackend, type BackendChoice, type BackendInfo, initBackend } from './backend/init.js';
export { tf } from './backend/tf.js';
// Config
export {
  ConfigError,
  type ConfigKeyDoc,
  type ConfigProblem,
  configReferenceMarkdown,
  configSchema,
  configToYaml,
  describeConfigSchema,
  type LabeledAmount,
  type LoadedConfig,
  labeledCaseCount,
  loadConfig,
  METHOD_NAMES,
  type MethodName,
  parseConfig,
  type SsmisConfig,
  type SsmisConfigInput,
} from './config/index.js';
export { centerCrop, randomCrop, randomRotFlip } from './data/augment.js';
// Data
export {
  type Augment3dOptions,
  augmentPreset,
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
  openDataset,
  type ValidationReport,
  validateDataset,
} from './data/dataset.js';
export { prepareDataset } from './data/prepare/index.js';
export { type SamplerState, TwoStreamBatchSampler } from './data/sampler.js';
export {
  LA_DIFFICULTY_PRESETS,
  type LaDifficulty,
  type LaDifficultyOverrides,
  type LaDifficultyPreset,
  type SynthDifficulty,
  synthesize,
} from './data/synth/index.js';
export { acdcRandomGenerator, rotateNearest, zoomNearest } from './data/transforms2d.js';
export {
  type DistanceTransformOptions,
  euclideanDistanceTransform,
} from './eval/distance-transform.js';
// Evaluation
export {
  type EvaluateFilesOptions,
  type EvaluateModelOptions,
  type EvaluateOptions,
  type EvaluationProgress,
  type EvaluationResult,
  evaluate,
  evaluateFiles,
  evaluateModel,
  finalEvaluation,
} from './eval/evaluate.js';
export {
  computeMetrics,
  type MetricOptions,
  percentileLinear,
  type SegmentationMetrics,
  surfaceBorder,
  surfaceDistances,
} from './eval/metrics.js';
export { type PredictOptions, type PredictResult, predict } from './eval/predict.js';
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
  windowStarts,
} from './infer/sliding-window.js';
export { readH5Datasets, writeH5Datasets } from './io/hdf5.js';
export {
  type NiftiHeaderInfo,
  parseNifti,
  readNifti,
  readNiftiHeader,
  volumeFromArray,
  type WriteNiftiOptions,
  writeNifti,
} from './io/nifti.js';
export { readNrrd, writeNrrd } from './io/nrrd.js';
// I/O
export { encodePng } from './io/png.js';
export {
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  type SafetensorsTensor,
  writeSafetensors,
} from './io/safetensors.js';
export type { Affine, NiftiGeometry, Volume, VoxelArray } from './io/volume.js';
// Method
export * from './method/index.js';
// Networks
export {
  assignWeights,
  fromPyTorchLayout,
  loadWeights,
  type OptimizerState,
  saveWeights,
  toPyTorchLayout,
  weightsToSafetensors,
} from './nn/checkpoint.js';
export { createModel } from './nn/create.js';
export { copyWeights, createTeacher, type EmaOptions, updateEma } from './nn/ema.js';
export type { ApplyOptions, CloneOptions, SegmentationModel } from './nn/types.js';
export {
  createUNet2d,
  type UNet2dModel,
  type UNet2dOptions,
  unet2dParameterCount,
} from './nn/unet2d.js';
export { createVNet, type VNetModel, type VNetOptions, vnetParameterCount } from './nn/vnet.js';
// Training
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
// Utilities
export { writeFileAtomic } from './util/atomic.js';
export { errorMessage, InputError, SsmisError } from './util/errors.js';
export { Rng, type RngState } from './util/rng.js';
