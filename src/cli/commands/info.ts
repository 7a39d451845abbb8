import os from 'node:os';
import type { Command } from 'commander';
import {
  type BackendChoice,
  describeAdapter,
  initBackend,
  installedVersion,
  WEBGPU_PACKAGES,
} from '../../backend/init.js';
import { packageVersion } from '../../util/package-info.js';
import { type CliContext, writeLine } from '../context.js';

/** `ssmis info`: what this machine gives ssmis (backend and why, versions, threads, memory). */
export function registerInfo(program: Command, ctx: CliContext): void {
  program
    .command('info')
    .description(
      'show the TF.js backend in use (and why the others are not), versions, CPU threads and memory',
    )
    .option('--backend <name>', 'backend to try: auto | tensorflow-gpu | webgpu | tensorflow | cpu', 'auto')
    .option('--no-fast-kernels', 'report the stock TF.js cpu kernels (as backend.fastKernels: false)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { backend: BackendChoice; json?: boolean; fastKernels: boolean }) => {
      const backend = await initBackend({ backend: opts.backend, fastKernels: opts.fastKernels });
      const info = {
        ssmis: packageVersion(),
        node: process.version,
        tfjs: backend.tfjsVersion,
        backend: backend.active,
        tfBackendName: backend.tfBackendName,
        unavailable: backend.unavailable,
        webgpuAdapter: backend.adapter ?? null,
        warnings: backend.warnings,
        fastKernels: backend.fastKernels,
        optionalPackages: {
          '@tensorflow/tfjs-node': installedVersion('@tensorflow/tfjs-node'),
          '@tensorflow/tfjs-node-gpu': installedVersion('@tensorflow/tfjs-node-gpu'),
          ...Object.fromEntries(WEBGPU_PACKAGES.map((p) => [p, installedVersion(p)])),
        },
        cpu: { model: os.cpus()[0]?.model ?? 'unknown', threads: os.availableParallelism() },
        memory: { totalGiB: round(os.totalmem() / 2 ** 30), freeGiB: round(os.freemem() / 2 ** 30) },
        platform: `${process.platform}-${process.arch}`,
      };
      if (opts.json) {
        writeLine(ctx.out, JSON.stringify(info, null, 2));
        return;
      }
      writeLine(ctx.out, `ssmis ${info.ssmis} (node ${info.node}, ${info.platform})`);
      writeLine(ctx.out, `TF.js ${info.tfjs}, backend: ${describeBackend(info.backend)}`);
      if (backend.active === 'webgpu' && backend.adapter)
        writeLine(ctx.out, `  WebGPU adapter: ${describeAdapter(backend.adapter)}`);
      for (const [pkg, reason] of Object.entries(info.unavailable)) {
        writeLine(ctx.out, `  not used: ${pkg}: ${reason}`);
      }
      for (const warning of backend.warnings) writeLine(ctx.out, `  warning: ${warning}`);
      if (backend.active === 'cpu') {
        const fk = backend.fastKernels;
        writeLine(
          ctx.out,
          `fast CPU kernels: ${fk.reason}${fk.active ? ` (WebAssembly SIMD, ${fk.workers + 1} threads)` : ''}`,
        );
      }
      writeLine(ctx.out, `CPU: ${info.cpu.model}, ${info.cpu.threads} threads`);
      writeLine(ctx.out, `memory: ${info.memory.totalGiB} GiB total, ${info.memory.freeGiB} GiB free`);
    });
}

function describeBackend(active: string): string {
  if (active === 'cpu') return 'cpu (pure JavaScript)';
  if (active === 'tensorflow') return 'tensorflow (native libtensorflow, CPU)';
  if (active === 'webgpu') return 'webgpu (TF.js WebGPU kernels on Dawn)';
  return 'tensorflow-gpu (native libtensorflow, CUDA)';
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
