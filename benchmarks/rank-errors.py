#!/usr/bin/python3
"""Where the supernets' rankings go wrong (issue 10): plain Python over the committed JSONs, no training.

For the rank study's reference set it prints
1. the stand-alone top-1 by block 0's operation, per seed;
2. the stand-alone seed-to-seed Kendall tau, overall and inside each of the two largest groups of block 0's
   operation (how much order is left once block 0 is fixed), for every pair of seeds and, with three or more,
   each seed against the mean of the others;
3. for every supernet of the given study JSONs: its mean prediction by block 0's operation, its tau inside the
   two largest block-0 groups, and the tau of its rank error (predicted rank minus stand-alone rank) with FLOPs,
   the sum of expansions and the count of e1 blocks;
4. for every comparison JSON given with --picks: the retrained top-1 of each method's picks by block 0's
   operation.

    /usr/bin/python3 benchmarks/rank-errors.py benchmarks/results/2026-12-07-rank-families.json \
        [--reference TABLE.json] [--picks benchmarks/results/2026-12-07-hournas-loss-5seeds.json ...]
"""
import argparse
import json
from collections import defaultdict

REFERENCE = "benchmarks/results/rank-reference-fashion-mnist.json"


def tau(a, b):
    """Kendall's tau-b."""
    concordant = discordant = ties_a = ties_b = 0
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            x = (a[i] > a[j]) - (a[i] < a[j])
            y = (b[i] > b[j]) - (b[i] < b[j])
            if x == 0 and y == 0:
                continue
            if x == 0:
                ties_a += 1
            elif y == 0:
                ties_b += 1
            elif x == y:
                concordant += 1
            else:
                discordant += 1
    denominator = ((concordant + discordant + ties_a) * (concordant + discordant + ties_b)) ** 0.5
    return (concordant - discordant) / denominator if denominator else float("nan")


def ranks(values):
    order = sorted(range(len(values)), key=lambda i: values[i])
    result = [0] * len(values)
    for rank, i in enumerate(order):
        result[i] = rank
    return result


def blocks(genotype):
    return [op for stage in genotype.split("|") for op in stage.split()]


def expansion(op):
    return 0 if op == "skip" else int(op.split("e")[1])


def first_block(genotype):
    return blocks(genotype)[0]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("studies", nargs="*")
    parser.add_argument("--reference", default=REFERENCE)
    parser.add_argument("--picks", nargs="*", default=[])
    args = parser.parse_args()

    archs = json.load(open(args.reference))["architectures"]
    truth = [a["meanTop1"] for a in archs]
    seeds = sorted({r["seed"] for a in archs for r in a["runs"]})
    by_seed = {s: [next(r["top1"] for r in a["runs"] if r["seed"] == s) for a in archs] for s in seeds}
    groups = defaultdict(list)
    for i, a in enumerate(archs):
        groups[first_block(a["genotype"])].append(i)

    print("stand-alone top-1 by block 0 (architectures, then the mean per seed):")
    for op, members in sorted(groups.items()):
        means = ", ".join(f"seed {s} {100 * sum(by_seed[s][i] for i in members) / len(members):.2f}%"
                          for s in seeds)
        print(f"  {op}: {len(members)}, {means}")
    largest = sorted(groups, key=lambda op: -len(groups[op]))[:2]
    for x in range(len(seeds)):
        for z in range(x + 1, len(seeds)):
            first, second = by_seed[seeds[x]], by_seed[seeds[z]]
            inside = ", ".join(
                f"{op} {tau([first[i] for i in groups[op]], [second[i] for i in groups[op]]):+.2f}" for op in largest)
            print(f"stand-alone seed {seeds[x]} vs seed {seeds[z]}: overall tau {tau(first, second):+.2f}; "
                  f"inside block-0 groups {inside}")
    if len(seeds) >= 3:
        # One seed against the mean of the others: what a perfect predictor of the others' mean could reach.
        for s in seeds:
            rest = [sum(by_seed[o][i] for o in seeds if o != s) / (len(seeds) - 1) for i in range(len(archs))]
            inside = ", ".join(
                f"{op} {tau([by_seed[s][i] for i in groups[op]], [rest[i] for i in groups[op]]):+.2f}"
                for op in largest)
            print(f"stand-alone seed {s} vs the mean of the others: overall tau {tau(by_seed[s], rest):+.2f}; "
                  f"inside block-0 groups {inside}")

    features = {
        "FLOPs": [a["mFlops"] for a in archs],
        "sum of expansions": [sum(expansion(op) for op in blocks(a["genotype"])) for a in archs],
        "e1 blocks": [sum(1 for op in blocks(a["genotype"]) if expansion(op) == 1) for a in archs],
    }
    for path in args.studies:
        print(f"\n{path}")
        for supernet in json.load(open(path))["supernets"]:
            predicted = supernet["predicted"]
            error = [p - t for p, t in zip(ranks(predicted), ranks(truth))]
            by_op = ", ".join(f"{op} {100 * sum(predicted[i] for i in groups[op]) / len(groups[op]):.2f}"
                              for op in sorted(groups))
            inside = ", ".join(
                f"{op} {tau([predicted[i] for i in groups[op]], [truth[i] for i in groups[op]]):+.2f}"
                for op in largest)
            errors = ", ".join(f"{name} {tau(error, values):+.2f}" for name, values in features.items())
            print(f"  {supernet['sharing']}\n    tau {tau(predicted, truth):+.2f}; inside block-0 groups {inside}"
                  f"\n    mean prediction by block 0: {by_op}\n    rank error's tau with {errors}")

    pooled = defaultdict(list)
    for path in args.picks:
        print(f"\n{path}: retrained top-1 by block 0")
        picks = defaultdict(lambda: defaultdict(list))
        for run in json.load(open(path))["runs"]:
            picks[run["method"]][first_block(run["genotype"])].append(run["top1"])
            pooled[first_block(run["genotype"])].append(run["top1"])
        for method, by_op in list(picks.items()) + ([("every method of every file", pooled)]
                                                   if path == args.picks[-1] else []):
            cells = ", ".join(f"{op} {len(v)}x {100 * sum(v) / len(v):.2f}%" for op, v in sorted(by_op.items()))
            print(f"  {method}: {cells}")


if __name__ == "__main__":
    main()
