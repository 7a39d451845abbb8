#!/usr/bin/env node
// @ts-check
/**
 * The 2-D U-Net (ACDC network, 1 → 4 classes, 16..256 channels) training step, ssmis against PyTorch CPU, run
 * against `dist/` (`npm run build` first). A benchmark, never a test.
 *
 * One step = train-mode forward (batch statistics, dropout) + mean softmax cross-entropy + backward + SGD with
 * momentum (lr 0.01, momentum 0.9, no weight decay; ssmis: the product's `createOptimizer`, as training), on random images and labels, at two sizes: batch 4 at 128² and batch 1 at
 * 64². Columns: ssmis with the fast cpu kernels on the threads of the kernel pool (`SSMIS_THREADS`, default every
 * core) and on 1 thread (no worker), ssmis with the stock TF.js kernels (64² only: the stock step at 128² takes minutes), and PyTorch CPU
 * with 1 and with 2 threads running the same network (the embedded script below, one process per measurement,
 * started between the ssmis measurements so that both see the same machine load). Ratios are ssmis fast /
 * PyTorch with the same number of threads: the pool's, and 1. PyTorch is optional: without
 * a python3 that imports torch the columns say why.
 *
 * Usage: node scripts/bench-2d.mjs [--quick] [--rounds N] [--json FILE]
 *   --rounds  alternation rounds (default 3, --quick 1); each round times 2 steps of every column after a warm-up.
 * Also run by `npm run bench` as the section `unet2d` (`runUnet2dBench`).
 */
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { findTorch } from './lib/torch.mjs';
import { timedTrainStep } from './lib/train-step.mjs';

/**
 * @import { DistModules } from './lib/runtime.mjs'
 * @import { tf as TF } from '../src/index.js'
 */

const dist = new URL('../dist/', import.meta.url);
/**
 * @template {keyof DistModules} K
 * @param {K} p
 * @returns {Promise<DistModules[K]>}
 */
const load = (p) => import(new URL(p, dist).href);

/** The reference UNet_2d (BCP networks/unet.py without the unused heads), timed like the ssmis step. */
export const TORCH_SCRIPT = `
import json, sys, time
import torch
from torch import nn
import torch.nn.functional as F

class ConvBlock(nn.Module):
    def __init__(self, cin, cout, p):
        super().__init__()
        self.conv_conv = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU(),
            nn.Dropout(p), nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU())
    def forward(self, x):
        return self.conv_conv(x)

class UpBlock(nn.Module):
    def __init__(self, c1, c2, cout):
        super().__init__()
        self.conv1x1 = nn.Conv2d(c1, c2, 1)
        self.up = nn.Upsample(scale_factor=2, mode='bilinear', align_corners=True)
        self.conv = ConvBlock(2 * c2, cout, 0.0)
    def forward(self, x1, x2):
        return self.conv(torch.cat([x2, self.up(self.conv1x1(x1))], dim=1))

class UNet2d(nn.Module):
    def __init__(self, cin=1, ncls=4, ft=(16, 32, 64, 128, 256), p=(0.05, 0.1, 0.2, 0.3, 0.5)):
        super().__init__()
        self.enc = nn.ModuleList([ConvBlock(cin if i == 0 else ft[i - 1], ft[i], p[i]) for i in range(5)])
        self.ups = nn.ModuleList([UpBlock(ft[4 - u], ft[3 - u], ft[3 - u]) for u in range(4)])
        self.out_conv = nn.Conv2d(ft[0], ncls, 3, padding=1)
    def forward(self, x):
        feats = []
        for i, block in enumerate(self.enc):
            if i > 0:
                x = F.max_pool2d(x, 2)
            x = block(x)
            feats.append(x)
        for u, up in enumerate(self.ups):
            x = up(x, feats[3 - u])
        return self.out_conv(x)

req = json.loads(sys.stdin.read())
torch.set_num_threads(req['threads'])
torch.manual_seed(0)
net = UNet2d()
net.train()
opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
n, s = req['batch'], req['size']
x = torch.randn(n, 1, s, s)
y = torch.randint(0, 4, (n, s, s))
def step():
    t0 = time.perf_counter()
    opt.zero_grad()
    loss = F.cross_entropy(net(x), y)
    loss.backward()
    opt.step()
    return (time.perf_counter() - t0) * 1e3
for _ in range(req['warmup']):
    step()
print(json.dumps({'times': [step() for _ in range(req['runs'])]}))
`;

/** @param {readonly number[]} xs */
function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * Times `runs` PyTorch steps (after one warm-up) in a fresh process; null with the reason when unavailable.
 * @param {string} python
 * @param {{ batch: number, size: number, threads: number, warmup: number, runs: number }} request
 * @returns {number[]}
 */
function torchTimes(python, request) {
  const r = spawnSync(python, ['-c', TORCH_SCRIPT], {
    input: JSON.stringify(request),
    encoding: 'utf8',
    timeout: 20 * 60_000,
  });
  if (r.status !== 0) throw new Error(`PyTorch UNet2d step failed: ${(r.stderr || String(r.error)).trim()}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]).times;
}

/**
 * A UNet2d train step of ssmis on random data; `step()` returns its time in ms.
 * @param {typeof TF} tf
 * @param {string} tag
 * @param {number} batch
 * @param {number} size
 */
async function makeSsmisStep(tf, tag, batch, size) {
  const { createUNet2d } = await load('nn/unet2d.js');
  const { Rng, createOptimizer } = await load('index.js');
  const rng = new Rng(1);
  const n = batch * size * size;
  const x = tf.tensor(
    Float32Array.from({ length: n }, () => rng.normal()),
    [batch, size, size, 1],
  );
  const labels = tf.oneHot(
    tf.tensor(
      Int32Array.from({ length: n }, () => rng.randint(0, 4)),
      [batch, size, size],
      'int32',
    ),
    4,
  );
  const net = createUNet2d({ seed: 0, name: `bench2d_${tag}` });
  // The product's optimizer (what training runs) with the hyper-parameters of the PyTorch side's
  // torch.optim.SGD(lr=0.01, momentum=0.9): no weight decay, no dampening.
  const optimizer = createOptimizer({ name: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 0 });
  const step = timedTrainStep(tf, net, x, labels, optimizer, new Rng(2));
  const dispose = () => {
    optimizer.dispose();
    net.dispose();
    tf.dispose([x, labels]);
  };
  return { step, dispose };
}

/** @param {number | null} ms */
const fmt = (ms) => (ms === null ? '—' : ms >= 1e4 ? `${(ms / 1e3).toFixed(1)} s` : `${ms.toFixed(0)} ms`);

/**
 * Runs the bench and prints its table. Returns `{ threads, torch: {python, version} | {reason}, rows: [{config,
 * batch, size, fastMs, fast1ThreadMs, stockMs, torch1Ms, torchSameThreadsMs, ratioSameThreads, ratio1Thread,
 * times}] }` (ms medians).
 * @param {{ quick?: boolean, rounds?: number }} [options]
 */
export async function runUnet2dBench(options = {}) {
  const { tf } = await load('backend/tf.js');
  const { initBackend } = await load('index.js');
  await initBackend({ backend: 'cpu' });
  const kernels = await load('backend/kernels/index.js');
  /** (Re-)registers the fast kernels with the default pool, or with no worker (`single`: 1 thread). */
  const register = async (single = false) => {
    if (single) kernels.unregisterFastKernels();
    if (!kernels.fastKernelsActive()) kernels.registerFastKernels(single ? { workers: 0 } : {});
    await kernels.fastKernelWorkersReady();
    return kernels.fastKernelsActive();
  };
  if (!(await register())) {
    console.log('unet2d: fast kernels not available (SSMIS_FAST_KERNELS=0 or no WebAssembly SIMD)');
    return { available: false };
  }
  const threads = kernels.fastKernelWorkerCount() + 1;
  const rounds = options.rounds ?? (options.quick ? 1 : 3);
  const stepsPerRound = 2;
  const torch = findTorch();
  const torchThreads = [...new Set([1, threads])];
  const configs = [
    { config: 'batch 4, 128²', batch: 4, size: 128, stock: false },
    { config: 'batch 1, 64²', batch: 1, size: 64, stock: true },
  ];
  console.log(
    `\nunet2d: UNet2d train step (forward + backward + SGD), ssmis fast kernels on ${threads} thread(s) vs PyTorch ` +
      `${torch.python === null ? `(not run: ${torch.reason})` : `${torch.version} CPU (${torch.python})`}`,
  );
  /**
   * @type {{ config: string, batch: number, size: number, fastMs: number | null, fast1ThreadMs: number | null,
   *   stockMs: number | null, torch1Ms: number | null, torchSameThreadsMs: number | null,
   *   ratioSameThreads?: number | null, ratio1Thread?: number | null, times: Record<string, number[]> }[]}
   */
  const rows = [];
  for (const c of configs) {
    /** @type {Record<string, number[]> & { fast: number[], fast1: number[], stock: number[] }} */
    const times = {
      fast: [],
      fast1: [],
      stock: [],
      ...Object.fromEntries(torchThreads.map((t) => [`torch${t}`, []])),
    };
    const fast = await makeSsmisStep(tf, 'fast', c.batch, c.size);
    const stock = c.stock ? await makeSsmisStep(tf, 'stock', c.batch, c.size) : null;
    fast.step();
    /**
     * Registers the fast kernels again and takes one untimed step: a fresh registration has a new, small wasm
     * heap that the first step grows and faults in page by page, so that step is a warm-up, not a sample.
     * @param {boolean} [single] 1 thread (no worker)
     */
    const rearm = async (single = false) => {
      await register(single);
      fast.step();
    };
    if (stock !== null) {
      kernels.unregisterFastKernels();
      stock.step();
      await rearm();
    }
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < stepsPerRound; i++) times.fast.push(fast.step());
      if (threads > 1) {
        await rearm(true);
        for (let i = 0; i < stepsPerRound; i++) times.fast1.push(fast.step());
        kernels.unregisterFastKernels();
        await rearm();
      }
      if (torch.python !== null) {
        for (const t of torchThreads) {
          const request = { batch: c.batch, size: c.size, threads: t, warmup: 1, runs: stepsPerRound };
          times[`torch${t}`].push(...torchTimes(torch.python, request));
        }
      }
      if (stock !== null) {
        kernels.unregisterFastKernels();
        times.stock.push(stock.step());
        await rearm();
      }
    }
    fast.dispose();
    stock?.dispose();
    /** @param {string} k */
    const med = (k) => (times[k]?.length ? median(times[k]) : null);
    /** @type {(typeof rows)[number]} */
    const row = {
      config: c.config,
      batch: c.batch,
      size: c.size,
      fastMs: med('fast'),
      fast1ThreadMs: threads > 1 ? med('fast1') : med('fast'),
      stockMs: med('stock'),
      torch1Ms: med('torch1'),
      torchSameThreadsMs: med(`torch${threads}`),
      times,
    };
    row.ratioSameThreads =
      row.torchSameThreadsMs === null ? null : Number(row.fastMs) / row.torchSameThreadsMs;
    row.ratio1Thread = row.torch1Ms === null ? null : Number(row.fast1ThreadMs) / row.torch1Ms;
    rows.push(row);
    /** @param {number | null} r */
    const ratio = (r) => (r === null ? '—' : `${r.toFixed(2)}×`);
    console.log(
      `${c.config.padEnd(15)} ssmis fast ${fmt(row.fastMs).padStart(8)} (${threads} threads), ` +
        `${fmt(row.fast1ThreadMs).padStart(8)} (1 thread)   stock ${fmt(row.stockMs).padStart(7)}   ` +
        `PyTorch ${fmt(row.torchSameThreadsMs).padStart(7)} (${threads} threads), ${fmt(row.torch1Ms).padStart(7)} (1 thread)   ` +
        `ssmis / PyTorch ${ratio(row.ratioSameThreads)} (${threads} threads), ${ratio(row.ratio1Thread)} (1 thread)`,
    );
  }
  return {
    available: true,
    threads,
    rounds,
    stepsPerRound,
    torch:
      torch.python === null ? { reason: torch.reason } : { python: torch.python, version: torch.version },
    rows,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const ri = argv.indexOf('--rounds');
  const ji = argv.indexOf('--json');
  runUnet2dBench({ quick, rounds: ri >= 0 ? Math.max(1, Number.parseInt(argv[ri + 1], 10)) : undefined })
    .then(async (result) => {
      if (ji >= 0) {
        const { writeFileAtomic } = await load('util/atomic.js');
        await writeFileAtomic(argv[ji + 1], `${JSON.stringify(result, null, 2)}\n`);
      }
      (await load('backend/kernels/index.js')).unregisterFastKernels();
    })
    .catch((error) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(1);
    });
}
