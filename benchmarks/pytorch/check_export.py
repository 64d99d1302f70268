"""Loads a retrained fashion-mnist network exported by `hournas stage retrain` (weights.pth) into the PyTorch twin
of the network (train_fashion.py), strictly (every key and shape must match), normalises with the mean and std the
file carries (`input_mean`, `input_std`), and reports its test top-1.
Usage: /usr/bin/python3 benchmarks/pytorch/check_export.py OUT_DIR   (OUT_DIR holds weights.pth and genotype.json)"""
import json, os, sys

import numpy as np
import torch
import torch.nn.functional as F

from train_fashion import PRESET, Net, load_images, load_labels

out = sys.argv[1]
torch.set_num_threads(2)
skeleton = json.load(open(PRESET))
genotype = json.load(open(os.path.join(out, "genotype.json")))
net = Net(skeleton, [[op] for stage in genotype["stages"] for op in stage])
state = torch.load(os.path.join(out, "weights.pth"))
mean = state.pop("input_mean").tolist()[0]
std = state.pop("input_std").tolist()[0]
net.load_state_dict(state, strict=True)
net.eval()
data = "/usr/share/datasets/fashion-mnist"
x = (torch.from_numpy(load_images(os.path.join(data, "t10k-images-idx3-ubyte.gz")).astype(np.float32) / 255) - mean) / std
y = torch.from_numpy(load_labels(os.path.join(data, "t10k-labels-idx1-ubyte.gz")))
with torch.no_grad():
    correct = sum((net(x[i:i + 500]).argmax(1) == y[i:i + 500]).sum().item() for i in range(0, len(y), 500))
print(f"loaded {len(state)} tensors strictly; PyTorch {torch.__version__} test top-1 {correct / len(y):.4f}")
