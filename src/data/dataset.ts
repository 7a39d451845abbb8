/**
 * The canonical dataset folder (README, "Datasets"), an nnU-Net-style layout: `dataset.json`,
 * `imagesTr/<case>_<cccc><ending>`, `labelsTr/<case><ending>`. One file per concern: `dataset-json.ts` (the
 * `dataset.json` schema and its parsing), `dataset-cases.ts` (opening a folder, loading and caching its cases)
 * and `dataset-validate.ts` (checking every case of a folder). This file re-exports them.
 */
export {
  type CacheStats,
  type Dataset,
  type LabeledSpec,
  type LoadedCase,
  type OpenDatasetOptions,
  openDataset,
} from './dataset-cases.js';
export {
  DATASET_FORMAT_VERSION,
  type DatasetInfo,
  type DatasetJson,
  datasetJsonSchema,
  MAX_DATASET_JSON_BYTES,
  parseDatasetJson,
  type SplitName,
} from './dataset-json.js';
export { type ValidationProblem, type ValidationReport, validateDataset } from './dataset-validate.js';
