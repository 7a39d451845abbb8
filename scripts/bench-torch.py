#!/usr/bin/env python3
"""PyTorch peer of `npm run bench` (a benchmark, never a test): the reference VNet timed the way ssmis times it.

Run by scripts/lib/torch.mjs, which finds a python3 that imports torch. Reads one JSON request on stdin and
prints one JSON line on stdout:

  {"task": "params", "base": 16}
      -> {"parameters": N}
  {"task": "train", "base": 16, "shape": [32, 32, 32], "batch": 2, "threads": 1, "runs": 3, "warmup": 1}
      -> {"times": [ms, ...], "parameters": N}
     one train step: forward (train mode: BN batch statistics, dropout) + cross-entropy + backward + SGD
     (lr 0.01, momentum 0.9, weight decay 1e-4), as ssmis's bench step.
  {"task": "infer", "base": 16, "volume": [X, Y, Z], "patch": [px, py, pz], "starts": [[x...], [y...], [z...]],
   "batch": 1, "threads": 1, "runs": 3, "warmup": 1}
      -> {"times": [ms, ...], "windows": W}
     sliding-window inference in eval mode over exactly the window starts ssmis uses, `batch` windows per
     forward (default 1, as the reference's test_single_case), softmax, foreground probability summed into an
     accumulator and divided by the count. PyTorch 1.13's CPU Conv3d takes a much slower path for a batch of
     one, so the bench asks for both 1 and 2 windows per forward and compares with the faster.
  {"task": "infer2d", "network": "<python source defining UNet2d>", "volume": [X, Y, Z], "size": [H, W],
   "classes": K, "threads": 1, "runs": 3, "warmup": 1}
      -> {"times": [ms, ...], "slices": Z}
     slice-by-slice inference of a 2-D network in eval mode: each slice resized to `size` (nearest), one
     forward per slice, softmax, resized back (nearest), argmax. The network's source comes from the caller
     (the 2-D bench owns the UNet2d definition).

The network is the reference VNet (networks/VNet.py without its unused heads): conv stages 1-2-3-3-3 /
3-3-2-1 of 3x3x3 same convolutions with BatchNorm + ReLU, 2x2x2 stride-2 down-convolutions, 2x2x2 stride-2
transposed up-convolutions, additive skips after the up-block ReLU, Dropout3d(0.5) on x5 and x9, a 1x1x1 head:
9,448,866 parameters at 16 filters, 1 input channel, 2 classes.
"""
import json
import sys
import time

import torch
from torch import nn


def conv_block(stages, cin, cout):
    layers = []
    for s in range(stages):
        layers += [nn.Conv3d(cin if s == 0 else cout, cout, 3, padding=1), nn.BatchNorm3d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


def down(cin, cout):
    return nn.Sequential(nn.Conv3d(cin, cout, 2, stride=2), nn.BatchNorm3d(cout), nn.ReLU(inplace=True))


def up(cin, cout):
    return nn.Sequential(nn.ConvTranspose3d(cin, cout, 2, stride=2), nn.BatchNorm3d(cout), nn.ReLU(inplace=True))


class VNet(nn.Module):
    def __init__(self, n_channels=1, n_classes=2, f=16):
        super().__init__()
        self.b1 = conv_block(1, n_channels, f)
        self.b1d = down(f, 2 * f)
        self.b2 = conv_block(2, 2 * f, 2 * f)
        self.b2d = down(2 * f, 4 * f)
        self.b3 = conv_block(3, 4 * f, 4 * f)
        self.b3d = down(4 * f, 8 * f)
        self.b4 = conv_block(3, 8 * f, 8 * f)
        self.b4d = down(8 * f, 16 * f)
        self.b5 = conv_block(3, 16 * f, 16 * f)
        self.b5u = up(16 * f, 8 * f)
        self.b6 = conv_block(3, 8 * f, 8 * f)
        self.b6u = up(8 * f, 4 * f)
        self.b7 = conv_block(3, 4 * f, 4 * f)
        self.b7u = up(4 * f, 2 * f)
        self.b8 = conv_block(2, 2 * f, 2 * f)
        self.b8u = up(2 * f, f)
        self.b9 = conv_block(1, f, f)
        self.out = nn.Conv3d(f, n_classes, 1)
        self.dropout = nn.Dropout3d(p=0.5)

    def forward(self, x):
        x1 = self.b1(x)
        x2 = self.b2(self.b1d(x1))
        x3 = self.b3(self.b2d(x2))
        x4 = self.b4(self.b3d(x3))
        x5 = self.dropout(self.b5(self.b4d(x4)))
        h = self.b6(self.b5u(x5) + x4)
        h = self.b7(self.b6u(h) + x3)
        h = self.b8(self.b7u(h) + x2)
        h = self.b9(self.b8u(h) + x1)
        return self.out(self.dropout(h))


def parameters(model):
    return sum(p.numel() for p in model.parameters())


def timed(fn, runs, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def train(req):
    model = VNet(f=req["base"]).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(req["batch"], 1, *req["shape"])
    y = (torch.rand(req["batch"], *req["shape"]) < 0.3).long()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    return {"times": timed(step, req["runs"], req["warmup"]), "parameters": parameters(model)}


def infer(req):
    model = VNet(f=req["base"]).eval()
    px, py, pz = req["patch"]
    volume = torch.randn(1, 1, *req["volume"])
    sx, sy, sz = req["starts"]

    windows = [(x, y, z) for x in sx for y in sy for z in sz]
    per = int(req.get("batch", 1))

    def run():
        acc = torch.zeros(*req["volume"])
        cnt = torch.zeros(*req["volume"])
        with torch.no_grad():
            for first in range(0, len(windows), per):
                group = windows[first : first + per]
                batch = torch.cat([volume[:, :, x : x + px, y : y + py, z : z + pz] for x, y, z in group])
                p1 = torch.softmax(model(batch), dim=1)[:, 1]
                for b, (x, y, z) in enumerate(group):
                    acc[x : x + px, y : y + py, z : z + pz] += p1[b]
                    cnt[x : x + px, y : y + py, z : z + pz] += 1
        return acc / cnt

    return {"times": timed(run, req["runs"], req["warmup"]), "windows": len(windows)}


def infer2d(req):
    scope = {}
    exec(req["network"], scope)  # noqa: S102 - the bench's own network definition
    model = scope["UNet2d"](ncls=req["classes"]).eval()
    x, y, z = req["volume"]
    volume = torch.randn(z, 1, x, y)

    def run():
        labels = torch.empty(z, x, y, dtype=torch.long)
        with torch.no_grad():
            for k in range(z):
                s = nn.functional.interpolate(volume[k : k + 1], size=req["size"], mode="nearest")
                p = torch.softmax(model(s), dim=1)
                labels[k] = nn.functional.interpolate(p, size=[x, y], mode="nearest")[0].argmax(0)
        return labels

    return {"times": timed(run, req["runs"], req["warmup"]), "slices": z}


def main():
    req = json.loads(sys.stdin.read())
    torch.manual_seed(0)
    torch.set_num_threads(int(req.get("threads", 1)))
    task = req["task"]
    if task == "params":
        out = {"parameters": parameters(VNet(f=req["base"]))}
    elif task == "train":
        out = train(req)
    elif task == "infer":
        out = infer(req)
    elif task == "infer2d":
        out = infer2d(req)
    else:
        raise SystemExit(f"bench-torch: unknown task {task!r}")
    out["torch"] = torch.__version__
    out["threads"] = torch.get_num_threads()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
