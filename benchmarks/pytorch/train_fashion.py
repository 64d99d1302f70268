"""The PyTorch side of the training-throughput comparison (docs/performance.md).

Builds the same fashion-mnist network as HourNas.Engine (from the preset JSON and a genotype), the same
bare training step over pre-built batches (SGD, Nesterov momentum, label smoothing), and prints one line of
key=value pairs like benchmarks/HourNas.TrainingBenchmark. Run with Debian's PyTorch: /usr/bin/python3.
"""
import argparse, gzip, json, os, random, resource, struct, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PRESET = os.path.join(ROOT, "shared", "HourNas.SearchSpace", "Presets", "fashion-mnist.json")
MANUAL = "k3e1 | k3e6 k3e3 skip | k5e6 k3e3 skip | k3e6 k3e3"


def conv_bn(cin, cout, k, stride, groups, act):
    layers = [("conv", nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False)), ("bn", nn.BatchNorm2d(cout))]
    if act:
        layers.append(("act", nn.ReLU()))
    return nn.Sequential(__import__("collections").OrderedDict(layers))


class MBConv(nn.Module):
    def __init__(self, cin, cout, stride, k, e):
        super().__init__()
        mid = cin * e
        self.expand = conv_bn(cin, mid, 1, 1, 1, True) if e != 1 else None
        self.depthwise = conv_bn(mid, mid, k, stride, mid, True)
        self.project = conv_bn(mid, cout, 1, 1, 1, False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.expand(x) if self.expand is not None else x
        y = self.project(self.depthwise(y))
        return y + x if self.residual else y


class ChoiceBlock(nn.Module):
    def __init__(self, cin, cout, stride, options):
        super().__init__()
        self.options = options
        self.ops = nn.ModuleDict({o: MBConv(cin, cout, stride, int(o[1]), int(o[3])) for o in options if o != "skip"})
        self.active = 0

    def forward(self, x):
        op = self.options[self.active]
        return x if op == "skip" else self.ops[op](x)


class Net(nn.Module):
    def __init__(self, skeleton, options):
        super().__init__()
        self.stem = conv_bn(skeleton["inputChannels"], skeleton["stem"]["width"], 3, skeleton["stem"]["stride"], 1, True)
        blocks, width, i = [], skeleton["stem"]["width"], 0
        for stage in skeleton["stages"]:
            for p in range(stage["maxDepth"]):
                blocks.append(ChoiceBlock(width, stage["width"], stage["stride"] if p == 0 else 1, options[i]))
                width, i = stage["width"], i + 1
        self.blocks = nn.ModuleList(blocks)
        self.head = conv_bn(width, skeleton["headWidth"], 1, 1, 1, True)
        self.classifier = nn.Linear(skeleton["headWidth"], skeleton["classes"])

    def forward(self, x):
        x = self.stem(x)
        for b in self.blocks:
            x = b(x)
        return self.classifier(F.adaptive_avg_pool2d(self.head(x), 1).flatten(1))


def load_images(path):
    with gzip.open(path) as f:
        data = f.read()
    _, n, rows, cols = struct.unpack(">iiii", data[:16])
    return np.frombuffer(data, np.uint8, offset=16).reshape(n, 1, rows, cols)


def load_labels(path):
    with gzip.open(path) as f:
        data = f.read()
    return np.frombuffer(data, np.uint8, offset=8).astype(np.int64)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--network", default="child", choices=["child", "supernet"])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--channels-last", default="true")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    random.seed(0)
    channels_last = a.channels_last.lower() == "true"

    skeleton = json.load(open(PRESET))
    n_blocks = sum(s["maxDepth"] for s in skeleton["stages"])
    if a.network == "child":
        options = [[op] for op in MANUAL.replace("|", " ").split()]
    else:
        cands = skeleton["candidates"]
        net0 = Net(skeleton, [cands] * n_blocks)  # shapes only, to find which blocks have an identity shortcut
        options = [cands + (["skip"] if b.ops[cands[0]].residual else []) for b in net0.blocks]
    net = Net(skeleton, options)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)

    images = torch.from_numpy(load_images(os.path.join(a.data, "train-images-idx3-ubyte.gz")).astype(np.float32) / 255)
    labels = torch.from_numpy(load_labels(os.path.join(a.data, "train-labels-idx1-ubyte.gz")))
    images = (images - images.mean()) / images.std()
    perm = torch.randperm(len(labels))
    batches = []
    for i in range(64):
        idx = perm[i * a.batch:(i + 1) * a.batch]
        x = images[idx].contiguous(memory_format=torch.channels_last) if channels_last else images[idx].contiguous()
        batches.append((x, labels[idx]))

    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=4e-5)
    net.train()

    def step(i):
        if a.network == "supernet":
            for b in net.blocks:
                b.active = random.randrange(len(b.options))
        x, y = batches[i % len(batches)]
        loss = F.cross_entropy(net(x), y, label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for i in range(a.warmup):
        step(i)
    start = time.perf_counter()
    for i in range(a.steps):
        step(i)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"impl=pytorch-{torch.__version__} network={a.network} loop=step channels_last={channels_last} threads={torch.get_num_threads()} "
          f"batch={a.batch} steps={a.steps} images_per_s={a.steps * a.batch / seconds:.0f} peak_rss_mb={peak:.0f}")


if __name__ == "__main__":
    main()
