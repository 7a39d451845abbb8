import type { Command } from 'commander';
import { readNifti, readNiftiHeader } from '../../io/nifti.js';
import type { VoxelArray } from '../../io/volume.js';
import { type CliContext, writeLine } from '../context.js';

interface ValueStats {
  min: number;
  max: number;
  mean: number;
  std: number;
  nonZero: number;
  nonFinite: number;
  /** Distinct values when there are at most 16 of them (label maps), else null. */
  distinct: number[] | null;
}

/** Summary statistics in one pass (float64 accumulation); distinct values tracked until there are too many. */
export function valueStats(data: VoxelArray): ValueStats {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let sum = 0;
  let sumSq = 0;
  let nonZero = 0;
  let nonFinite = 0;
  let finite = 0;
  let distinct: Set<number> | null = new Set();
  for (let i = 0; i < data.length; i++) {
    const v = Number(data[i]);
    if (!Number.isFinite(v)) {
      nonFinite++;
      continue;
    }
    finite++;
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
    sumSq += v * v;
    if (v !== 0) nonZero++;
    if (distinct) {
      distinct.add(v);
      if (distinct.size > 16) distinct = null;
    }
  }
  const mean = finite > 0 ? sum / finite : Number.NaN;
  const variance = finite > 0 ? Math.max(sumSq / finite - mean * mean, 0) : Number.NaN;
  return {
    min: finite > 0 ? min : Number.NaN,
    max: finite > 0 ? max : Number.NaN,
    mean,
    std: Math.sqrt(variance),
    nonZero,
    nonFinite,
    distinct: distinct ? [...distinct].sort((a, b) => a - b) : null,
  };
}

function fmt(x: number): string {
  return Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(6)));
}

/** `ssmis inspect FILE`: a NIfTI file's header, geometry and value statistics. */
export function registerInspect(program: Command, ctx: CliContext): void {
  program
    .command('inspect')
    .description('show a NIfTI file’s header, geometry and value statistics')
    .argument('<file>', 'a .nii or .nii.gz file')
    .option('--json', 'machine-readable output')
    .option('--header-only', 'skip reading the voxels (fast on large files)')
    .action(async (file: string, opts: { json?: boolean; headerOnly?: boolean }) => {
      const info = await readNiftiHeader(file);
      const stats = opts.headerOnly ? null : valueStats((await readNifti(file)).data);
      const h = info.header;
      const report = {
        file,
        version: `NIfTI-${info.version}`,
        gzipped: info.gzipped,
        byteOrder: info.littleEndian ? 'little-endian' : 'big-endian',
        shape: info.shape,
        datatype: info.datatypeName,
        spacing: info.spacing,
        units: h.xyztUnits,
        qformCode: h.qformCode,
        sformCode: h.sformCode,
        affine: info.affine,
        scaling: { slope: h.sclSlope, inter: h.sclInter },
        description: h.description,
        stats,
      };
      if (opts.json) {
        writeLine(ctx.out, JSON.stringify(report, null, 2));
        return;
      }
      writeLine(ctx.out, `${file}: ${report.version}${info.gzipped ? ' (gzip)' : ''}, ${report.byteOrder}`);
      writeLine(ctx.out, `shape     ${info.shape.join(' × ')}  ${info.datatypeName}`);
      writeLine(ctx.out, `spacing   ${info.spacing.map(fmt).join(' × ')}`);
      writeLine(
        ctx.out,
        `qform     code ${h.qformCode}   sform code ${h.sformCode} (affine from ${affineSource(h)})`,
      );
      for (const row of info.affine)
        writeLine(ctx.out, `affine    ${row.map((v) => fmt(v).padStart(12)).join(' ')}`);
      if (h.sclSlope !== 0 && !(h.sclSlope === 1 && h.sclInter === 0)) {
        writeLine(ctx.out, `scaling   value × ${fmt(h.sclSlope)} + ${fmt(h.sclInter)}`);
      }
      if (h.description) writeLine(ctx.out, `descrip   ${h.description}`);
      if (stats) {
        writeLine(
          ctx.out,
          `values    min ${fmt(stats.min)}  max ${fmt(stats.max)}  mean ${fmt(stats.mean)}  std ${fmt(stats.std)}`,
        );
        writeLine(ctx.out, `          non-zero ${stats.nonZero}  non-finite ${stats.nonFinite}`);
        if (stats.distinct)
          writeLine(ctx.out, `          distinct values ${stats.distinct.map(fmt).join(', ')}`);
      }
    });
}

function affineSource(h: { qformCode: number; sformCode: number }): string {
  if (h.sformCode > 0) return 'sform';
  if (h.qformCode > 0) return 'qform';
  return 'pixdim';
}
