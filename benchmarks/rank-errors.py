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
import random
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


def ceiling(archs, by_seed, seeds, draws=2000):
    """The tau a perfect predictor can expect against a two-seed reference (the noise ceiling).

    Model: each architecture's top-1 is its expected value plus seed noise of one pooled variance (estimated from
    the seeds' spread per architecture). The expected values are the seed means shrunk toward their grand mean so
    their spread is the means' spread less the noise's share. The model is checked on what can be measured (one
    seed against the mean of the others, simulated against observed); then the expected values themselves, and one
    stand-alone seed, are scored against simulated two-seed references.
    """
    rng = random.Random(2026)
    n, k = len(archs), len(seeds)
    means = [sum(by_seed[s][i] for s in seeds) / k for i in range(n)]
    noise = sum(sum((by_seed[s][i] - means[i]) ** 2 for s in seeds) / (k - 1) for i in range(n)) / n
    grand = sum(means) / n
    spread = sum((m - grand) ** 2 for m in means) / (n - 1)
    shrink = max(spread - noise / k, 0.0) ** 0.5 / spread ** 0.5
    expected = [grand + (m - grand) * shrink for m in means]

    def draw(scale):
        return [e + rng.gauss(0.0, (noise * scale) ** 0.5) for e in expected]

    def mean_tau(make_predictor, scale):
        taus = [tau(make_predictor(), draw(scale)) for _ in range(draws)]
        taus.sort()
        return sum(taus) / draws, taus[int(0.05 * draws)], taus[int(0.95 * draws)]

    print(f"noise ceiling (seed noise {100 * noise ** 0.5:.2f} points per architecture, expected values' spread "
          f"{100 * (spread * shrink * shrink) ** 0.5:.2f} points; {draws} simulated references):")
    for label, predictor, scale in [
            ("one seed against the mean of two (simulated; observed above)", lambda: draw(1.0), 0.5),
            ("one seed against one seed (simulated; observed above)", lambda: draw(1.0), 1.0),
            ("the expected values against the mean of two seeds: the ceiling", lambda: expected, 0.5)]:
        average, low, high = mean_tau(predictor, scale)
        print(f"  {label}: tau {average:+.2f} (90% of draws {low:+.2f} to {high:+.2f})")


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

    if len(seeds) >= 3:
        ceiling(archs, by_seed, seeds)

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
