/**
 * Evaluation (docs/equations.md §5), one file per concern: `evaluate-model.ts` (a model over cases of a dataset),
 * `evaluate-files.ts` (prediction files against label files: matching, reading, checks) and `evaluate-run.ts`
 * (checkpoint and run folder → report folder and selection record; the `evaluate` entry point and the
 * final-evaluation hook). This file re-exports them.
 *
 * A report folder is written as one set (output-guard.ts): everything goes to a temp folder beside it that
 * replaces it at once when complete; an earlier report is replaced only with `overwrite`, and a folder that
 * holds anything else never.
 */
export {
  caseKeyOf,
  type EvaluateFilesOptions,
  evaluateFiles,
  type FilePair,
  matchPredictionFiles,
} from './evaluate-files.js';
export {
  type EvaluateModelOptions,
  type EvaluationProgress,
  type EvaluationResult,
  evaluateModel,
} from './evaluate-model.js';
export {
  type EvaluateOptions,
  evaluate,
  type FinalEvaluationOptions,
  finalEvaluation,
  selectionOfCheckpoint,
} from './evaluate-run.js';
