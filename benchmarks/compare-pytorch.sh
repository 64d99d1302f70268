#!/usr/bin/env bash
# Training throughput of HourNas.Engine (TorchSharp) against PyTorch on the same fashion-mnist networks and the
# same bare training step, run alternately on this machine so drift hits both alike. Needs Debian's python3-torch
# (apt-get install python3-torch) and dataset-fashion-mnist. Usage: benchmarks/compare-pytorch.sh [ROUNDS] [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
steps=${2:-300}
dotnet build -c Release -nologo -v quiet benchmarks/HourNas.TrainingBenchmark >/dev/null
ours="dotnet benchmarks/HourNas.TrainingBenchmark/bin/Release/net10.0/HourNas.TrainingBenchmark.dll"
theirs="/usr/bin/python3 benchmarks/pytorch/train_fashion.py"
log=$(mktemp)
for r in $(seq "$rounds"); do
  for network in child supernet; do
    $ours --network "$network" --steps "$steps" | tee -a "$log"
    $theirs --network "$network" --steps "$steps" | tee -a "$log"
  done
done
echo
echo "median images/s over $rounds rounds of $steps steps (batch 128, 2 threads, channels-last):"
for network in child supernet; do
  median() { grep "network=$network " "$log" | grep "impl=$1" | sed 's/.*images_per_s=\([0-9]*\).*/\1/' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  o=$(median torchsharp)
  p=$(median pytorch)
  awk -v n="$network" -v o="$o" -v p="$p" 'BEGIN { printf "%-9s TorchSharp %5d   PyTorch %5d   ratio %.2f\n", n, o, p, o / p }'
done
rm -f "$log"
