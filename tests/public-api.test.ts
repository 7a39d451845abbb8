/**
 * The package root's exports, listed: a name added to or removed from `src/index.ts` fails here until this list
 * changes with it, so the public surface only changes on purpose. Values are what `import * as api` holds at run
 * time; types are read from the named exports of `src/index.ts`, which exports every name by name.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import * as api from '../src/index.js';

const VALUES = [
  'AdamOptimizer',
  'BatchLoader',
  'ConfigError',
  'InputError',
  'LA_DIFFICULTY_PRESETS',
  'METHOD_NAMES',
  'METRIC_NAMES',
  'Rng',
  'SgdOptimizer',
  'SsmisError',
  'TwoStreamBatchSampler',
  'computeMetrics',
  'configToYaml',
  'copyWeights',
  'cpamTrcmLoss',
  'createModel',
  'createOptimizer',
  'createTeacher',
  'createUNet2d',
  'createVNet',
  'cuboidMask',
  'disposeBatch',
  'evaluate',
  'evaluateCase',
  'evaluateFiles',
  'evaluateModel',
  'finalEvaluation',
  'formatReportHeader',
  'formatSummaryTable',
  'fromPyTorchLayout',
  'getMethodVariant',
  'inferCase',
  'inferVolume',
  'initBackend',
  'largestConnectedComponent',
  'learningRate',
  'loadConfig',
  'loadWeights',
  'maskedCrossEntropy',
  'maskedDiceLoss',
  'methodVariants',
  'mixImages',
  'mixLabels',
  'mixLoss',
  'openDataset',
  'parseConfig',
  'predict',
  'prepareDataset',
  'pretrainStep',
  'pseudoLabels',
  'readNifti',
  'readNiftiHeader',
  'readNrrd',
  'readSafetensors',
  'saveWeights',
  'settleHostReads',
  'slidingWindowInference',
  'slidingWindowInference2d',
  'summarizeCases',
  'synthesize',
  'tf',
  'toPyTorchLayout',
  'train',
  'trcmMasks',
  'unet2dParameterCount',
  'updateEma',
  'validateDataset',
  'vnetParameterCount',
  'volumeFromArray',
  'writeFileAtomic',
  'writeNifti',
  'writeNrrd',
  'writeSafetensors',
];

const TYPES = [
  'ActiveBackend',
  'Affine',
  'ApplyOptions',
  'Augment3dOptions',
  'BackendChoice',
  'BackendInfo',
  'BatchLoaderOptions',
  'BatchLoaderState',
  'CaseEvaluation',
  'ClassMetrics',
  'ClassSummary',
  'CloneOptions',
  'ConfigProblem',
  'ConfigYamlOptions',
  'Connectivity',
  'CpamTrcmLossInputs',
  'CpamTrcmLossParts',
  'CuboidMask',
  'CuboidOptions',
  'Dataset',
  'DatasetInfo',
  'DistanceUnits',
  'EmaOptions',
  'EvaluateCaseOptions',
  'EvaluateFilesOptions',
  'EvaluateModelOptions',
  'EvaluateOptions',
  'EvaluationProgress',
  'EvaluationProtocol',
  'EvaluationReport',
  'EvaluationResult',
  'EvaluationSummary',
  'FinalEvaluationContext',
  'FinalEvaluationOptions',
  'InferenceCase',
  'InferenceModel',
  'InferenceSettings',
  'LaDifficulty',
  'LaDifficultyOverrides',
  'LaDifficultyPreset',
  'LoadOptions',
  'LoadWeightsOptions',
  'LoadedCase',
  'LoadedConfig',
  'LoadedWeights',
  'MethodName',
  'MethodVariant',
  'MetricName',
  'MetricOptions',
  'MetricSummary',
  'MixTermLoss',
  'NiftiGeometry',
  'NiftiHeaderInfo',
  'NiftiWriteDatatype',
  'OpenDatasetOptions',
  'Optimizer',
  'OptimizerConfig',
  'OptimizerState',
  'ParseOptionsConfig',
  'PredictOptions',
  'PredictResult',
  'PredictedCase',
  'PrepareCaseEvent',
  'PrepareOptions',
  'PrepareProgress',
  'PrepareResult',
  'PreparedStep',
  'PseudoLabelOptions',
  'ResolvedUNet2dOptions',
  'ResolvedVNetOptions',
  'RngState',
  'SafetensorsFile',
  'SafetensorsTensor',
  'SamplerState',
  'SaveWeightsOptions',
  'ScheduleSpec',
  'SegmentationMetrics',
  'SegmentationModel',
  'SliceInferenceOptions',
  'SlidingWindowOptions',
  'SlidingWindowResult',
  'SplitName',
  'SsmisConfig',
  'SsmisConfigInput',
  'StepBatch',
  'StepConfig',
  'StepContext',
  'StepLoss',
  'SynthDifficulty',
  'SynthProgress',
  'SynthesizeOptions',
  'SynthesizeResult',
  'TrainEvent',
  'TrainOptions',
  'TrainResult',
  'TrainingBatch',
  'TrcmMasks',
  'TwoStreamBatchSamplerOptions',
  'UNet2dModel',
  'UNet2dOptions',
  'VNetModel',
  'VNetOptions',
  'ValidationProblem',
  'ValidationReport',
  'Volume',
  'VolumeFromArrayOptions',
  'VolumeInferenceOptions',
  'VolumeInput',
  'VoxelArray',
  'WebGpuAdapter',
  'WriteNiftiOptions',
  'WriteNrrdOptions',
];

const indexFile = path.resolve(import.meta.dirname, '../src/index.ts');

/** The names `src/index.ts` exports, split into values and types, and any `export *` (which would hide names). */
function namedExports(): { values: string[]; types: string[]; star: string[] } {
  const sf = ts.createSourceFile(indexFile, readFileSync(indexFile, 'utf8'), ts.ScriptTarget.Latest, true);
  const values: string[] = [];
  const types: string[] = [];
  const star: string[] = [];
  for (const statement of sf.statements) {
    if (!ts.isExportDeclaration(statement)) continue;
    const clause = statement.exportClause;
    if (clause === undefined || !ts.isNamedExports(clause)) {
      star.push(statement.getText());
      continue;
    }
    for (const element of clause.elements) {
      (statement.isTypeOnly || element.isTypeOnly ? types : values).push(element.name.text);
    }
  }
  const sort = (names: string[]) => [...names].sort();
  return { values: sort(values), types: sort(types), star };
}

describe('public API of the package root', () => {
  const exported = namedExports();

  it('exports every name by name (no export *)', () => {
    expect(exported.star).toEqual([]);
  });

  it('exports exactly these values', () => {
    expect(Object.keys(api).sort()).toEqual(VALUES);
    expect(exported.values).toEqual(VALUES);
  });

  it('exports exactly these types', () => {
    expect(exported.types).toEqual(TYPES);
  });
});
