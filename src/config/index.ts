/** Experiment configs: schema, loading (YAML/JSON, `extends`, `--set`), errors, YAML output, reference table. */
export { ConfigError, type ConfigProblem, formatProblem } from './errors.js';
export {
  type LoadedConfig,
  type LoadOptions,
  loadConfig,
  MAX_EXTENDS_DEPTH,
  MAX_YAML_ALIASES,
  type ParseOptionsConfig,
  parseConfig,
} from './load.js';
export { type ConfigYamlOptions, configToYaml } from './output.js';
export { type ConfigKeyDoc, configReferenceMarkdown, describeConfigSchema } from './reference.js';
export {
  configSchema,
  cuboidSize,
  type LabeledAmount,
  labeledCaseCount,
  METHOD_NAMES,
  type MethodName,
  modelDims,
  rawConfigSchema,
  type SsmisConfig,
  type SsmisConfigInput,
} from './schema.js';
