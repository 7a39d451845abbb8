import { describe, expect, it } from 'vitest';
import * as evaluate from '../../src/eval/evaluate.js';
import * as evaluateFiles from '../../src/eval/evaluate-files.js';
import * as evaluateModel from '../../src/eval/evaluate-model.js';
import * as evaluateRun from '../../src/eval/evaluate-run.js';
import { METRIC_NAMES } from '../../src/eval/protocol.js';
import * as report from '../../src/eval/report.js';
import * as reportColumns from '../../src/eval/report-columns.js';
import * as reportFiles from '../../src/eval/report-files.js';
import * as reportOverlays from '../../src/eval/report-overlays.js';
import * as reportStats from '../../src/eval/report-stats.js';
import * as reportText from '../../src/eval/report-text.js';

describe('evaluate.ts and report.ts re-export the files they were split into', () => {
  it('evaluate.ts: every name of the model, files and run-folder files', () => {
    expect(Object.keys(evaluate).sort()).toEqual(
      [
        'caseKeyOf',
        'evaluate',
        'evaluateFiles',
        'evaluateModel',
        'finalEvaluation',
        'matchPredictionFiles',
        'selectionOfCheckpoint',
      ].sort(),
    );
    expect(evaluate.evaluateModel).toBe(evaluateModel.evaluateModel);
    expect(evaluate.evaluateFiles).toBe(evaluateFiles.evaluateFiles);
    expect(evaluate.finalEvaluation).toBe(evaluateRun.finalEvaluation);
  });

  it('report.ts: the statistics, text, files and overlays functions and the one column list', () => {
    expect(Object.keys(report).sort()).toEqual(
      [
        'REPORT_METRICS',
        'buildReport',
        'casesToCsv',
        'formatReportHeader',
        'formatReportNotes',
        'formatSummaryTable',
        'renderHtmlReport',
        'renderOverlay',
        'reportToJson',
        'representativeSlices',
        'safeFileStem',
        'writeCaseOverlays',
        'writeReportFiles',
      ].sort(),
    );
    expect(report.buildReport).toBe(reportStats.buildReport);
    expect(report.formatSummaryTable).toBe(reportText.formatSummaryTable);
    expect(report.writeReportFiles).toBe(reportFiles.writeReportFiles);
    expect(report.writeCaseOverlays).toBe(reportOverlays.writeCaseOverlays);
    expect(report.REPORT_METRICS).toBe(reportColumns.REPORT_METRICS);
    // Every metric a case records is a column, in the protocol's order.
    expect(report.REPORT_METRICS.map((m) => m.key)).toEqual([...METRIC_NAMES]);
  });
});
