/** Experiment configs: schema, loading (YAML/JSON, `extends`, `--set`), errors, YAML output, reference table. */
export { ConfigError, type ConfigProblem, formatProblem } from './errors.js';
export {
  type LoadedConfig,
  type LoadOptions,
  loadConfig,
  MAX_CONFIG_BYTES,
  MAX_CONFIG_DEPTH,
  MAX_EXTENDS_DEPTH,
  MAX_YAML_ALIASES,
  type ParseOptionsConfig,
  parseConfig,
  requireConfig,
} from './load.js';
export { type ConfigYamlOptions, configToYaml } from './output.js';
export { type ConfigKeyDoc, configReferenceMarkdown, describeConfigSchema } from './reference.js';
export {
  type ConfigWarning,
  configSchema,
  configWarnings,
  type LabeledAmount,
  labeledCaseCount,
  MAX_PATCH_EDGE,
  MAX_TYPED_ARRAY_LENGTH,
  METHOD_NAMES,
  type MethodName,
  modelDims,
  rawConfigSchema,
  type SsmisConfig,
  type SsmisConfigInput,
  type TrainModeForward,
  trainModeForwards,
} from './schema.js';
