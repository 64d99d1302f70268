using System.Diagnostics;
using System.Globalization;
using HourNas.Engine.Data;
using HourNas.Engine.Networks;
using HourNas.Engine.Stages;
using HourNas.Engine.Training;
using HourNas.SearchSpace;
using TorchSharp.Modules;
using static TorchSharp.torch;

// Training throughput and memory on the fashion-mnist preset, for docs/performance.md.
//   --network child|child-at-mean|supernet|entangled|entangled-at-mean|entangled-pbn
//                              the `manual` genotype; a child whose FLOPs equal the mean of the supernet's uniform
//                              random paths (one draw at that cost: see children-at-mean under paired); or the full
//                              supernet (independent or entangled weights, the latter also with per-candidate
//                              BatchNorms) with a uniform random path per step;
//                              entangled-at-mean: the entangled supernet always on the child-at-mean's path (what
//                              sharing itself costs, apart from paths that change from step to step)
//   --loop step|trainer|paired step: the bare training step over pre-built batches (what the PyTorch script runs);
//                              trainer: HourNas.Engine's Trainer with its loader and augmentation; paired: the bare
//                              steps of --networks A,B,... (default child-at-mean,entangled) interleaved, --block N
//                              steps each (10) for --rounds N (20), with each round's throughput against A's;
//                              there also random-children and children-at-mean: 16 stand-alone children of uniform
//                              random paths, or of the paths closest to the mean FLOPs, one per block in turn
//   --kernels-apart N          entangled supernets: blocks 0..N-1 hold each kernel's weights apart (the pipeline's
//                              default, 1; 0 entangles every block's kernels, the layout measured before 2026-12-07)
//   --steps N --warmup N --batch N --channels-last true|false --threads N
// Prints one line of key=value pairs (paired: one per network): images/s, peak RSS, RSS growth over the timed
// steps, minor page faults.
var opts = args.Select((a, i) => (a, i)).Where(x => x.a.StartsWith("--")).ToDictionary(x => x.a[2..],
    x => args[x.i + 1]);
string Opt(string k, string d) => opts.TryGetValue(k, out var v) ? v : d;
var network = Opt("network", "child");
var loop = Opt("loop", "step");
int steps = int.Parse(Opt("steps", "300")), warmup = int.Parse(Opt("warmup", "30")), batchSize = int.Parse(Opt("batch",
    "128"));
var channelsLast = bool.Parse(Opt("channels-last", "true"));
var kernelsApartBlocks = int.Parse(Opt("kernels-apart", "1"));
var device = TorchRuntime.Initialize("cpu", int.Parse(Opt("threads", "2")));

var (space, genotype) = Presets.Resolve("fashion-mnist", "manual");
var kernelsApart = new SearchSettings(KernelsApartBlocks: kernelsApartBlocks).KernelsApart(space);
if (loop == "ops")
{
    Console.WriteLine(OpBreakdown.Run(space, genotype, batchSize, channelsLast, steps));
    return;
}
var data = Datasets.Open(null, space.Skeleton);
var norm = Normalization.Estimate(data.Train);
// The mean FLOPs of the paths a uniform supernet step trains, and the sampled architecture closest to it.
Genotype RandomPath(Rng rng) => space.FromBlocks(space.Candidates.Select(c => c[rng.NextInt(c.Count)]).ToArray());
var pathRng = new Rng(11);
var paths = Enumerable.Range(0, 20_000).Select(_ => RandomPath(pathRng)).ToArray();
var meanMFlops = paths.Average(g => space.Costs.Of(g).Total.MFlops);
var atMean = paths.MinBy(g => Math.Abs(space.Costs.Of(g).Total.MFlops - meanMFlops))!;
if (network == "child-at-mean")
    Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"mean path {meanMFlops:F3} MFLOPs; child {atMean} at {space.Costs.Of(atMean).Total.MFlops:F3} MFLOPs"));
(SuperNet Net, Func<Rng, int[]>? SamplePath) Build(string name)
{
    manual_seed(0);
    var built = name switch
    {
        "child" => SuperNet.Child(space, genotype),
        "child-at-mean" => SuperNet.Child(space, atMean),
        "supernet" => SuperNet.Full(space),
        "entangled" or "entangled-at-mean" => SuperNet.Full(space, WeightSharing.Entangled, kernelsApart: kernelsApart),
        "entangled-pbn" => SuperNet.Full(space, WeightSharing.Entangled, normPerCandidate: true, kernelsApart),
        _ => throw new ArgumentException($"unknown network '{name}': child, child-at-mean, supernet, entangled, " +
            "entangled-at-mean or entangled-pbn"),
    };
    var counts = built.Options.Select(o => o.Count).ToArray();
    var meanPath = built.PathOf(atMean);
    Func<Rng, int[]>? sample = name.StartsWith("child", StringComparison.Ordinal) ? null
        : name == "entangled-at-mean" ? _ => meanPath
        : rng => counts.Select(rng.NextInt).ToArray();
    return (built, sample);
}
// The bare step's parts, as the PyTorch script has them: pre-built batches, the loss, the optimizer.
Batch[] PrebuiltBatches() => BatchLoader.Read(data.Train, batchSize, norm, train: true, seed: 0).Take(64).ToArray();
Tensor StepLoss(SuperNet n, Batch b) => nn.functional.cross_entropy(n.call(Tensors.Images(b, device, channelsLast)),
    Tensors.Labels(b, device), label_smoothing: 0.1);
SGD NewOptimizer(SuperNet n) => optim.SGD(n.parameters(), 0.05, momentum: 0.9, nesterov: true, weight_decay: 4e-5);
if (loop == "paired")
{
    Console.WriteLine(PairedSteps(Opt("networks", "child-at-mean,entangled").Split(','), int.Parse(Opt("rounds", "20")),
        int.Parse(Opt("block", "10"))));
    return;
}
var (net, samplePath) = Build(network);
using var _ = net;
var settings = new TrainSettings(Epochs: 1, BatchSize: batchSize, ChannelsLast: channelsLast,
    ProgressEvery: int.MaxValue);

double seconds;
var rssSamples = new List<long>();
double forwardSeconds = 0, backwardSeconds = 0, optimizerSeconds = 0; // bare-step loop only; CPU ops are synchronous
long faultsBefore, rssBefore;
if (loop == "trainer")
{
    var subset = ImageSources.Limit(data.Train, warmup * batchSize, 1);
    new Trainer(net, settings, device, "warmup", 0).Train(subset, norm, samplePath);
    (faultsBefore, rssBefore) = (MinorFaults(), Rss());
    var timed = ImageSources.Limit(data.Train, steps * batchSize, 2);
    var clock = Stopwatch.StartNew();
    new Trainer(net, settings, device, "timed", 0).Train(timed, norm, samplePath);
    seconds = clock.Elapsed.TotalSeconds;
}
else
{
    // Pre-built batches, so only the step itself is timed (the PyTorch script does the same).
    var batches = PrebuiltBatches();
    using var optimizer = NewOptimizer(net);
    var rng = new Rng(0);
    net.train();
    var phase = new Stopwatch();
    void Step(int i)
    {
        if (samplePath is not null) net.SetPath(samplePath(rng));
        using var scope = NewDisposeScope();
        var b = batches[i % batches.Length];
        phase.Restart();
        var loss = StepLoss(net, b);
        forwardSeconds += phase.Elapsed.TotalSeconds;
        phase.Restart();
        net.zero_grad(true);
        loss.backward();
        backwardSeconds += phase.Elapsed.TotalSeconds;
        phase.Restart();
        optimizer.step();
        optimizerSeconds += phase.Elapsed.TotalSeconds;
    }
    for (var i = 0; i < warmup; i++) Step(i);
    forwardSeconds = backwardSeconds = optimizerSeconds = 0;
    (faultsBefore, rssBefore) = (MinorFaults(), Rss());
    var clock = Stopwatch.StartNew();
    for (var i = 0; i < steps; i++)
    {
        Step(i);
        if ((i + 1) % 100 == 0) rssSamples.Add(Rss() / 1024);
    }
    seconds = clock.Elapsed.TotalSeconds;
}
var line = string.Create(CultureInfo.InvariantCulture,
    $"impl=torchsharp network={network} kernels_apart={kernelsApart.Count} loop={loop} " +
    $"channels_last={channelsLast} threads={get_num_threads()} " +
    $"batch={batchSize} steps={steps} images_per_s={steps * batchSize / seconds:F0} " +
    $"peak_rss_mb={PeakRss() / 1024.0:F0} rss_growth_mb={(Rss() - rssBefore) / 1024.0:F1} " +
    $"minor_faults={MinorFaults() - faultsBefore} rss_mb_every_100_steps={string.Join(',', rssSamples)} " +
    $"forward_ms={1000 * forwardSeconds / steps:F1} backward_ms={1000 * backwardSeconds / steps:F1} " +
    $"optimizer_ms={1000 * optimizerSeconds / steps:F1}");
Console.WriteLine(line);

// Several networks' bare steps interleaved in blocks of a few steps, so the machine's drift (20% here between
// runs) falls on all of them alike; each round's ratio to the first network, and their median.
string PairedSteps(string[] names, int rounds, int block)
{
    if (rounds < 1 || block < 1)
        throw new ArgumentException($"--rounds and --block must be at least 1, got {rounds} and {block}");
    var batches = PrebuiltBatches();
    // random-children: stand-alone children of 16 uniform random paths, one per block of steps in turn, so the
    // supernet's paths are timed without any weight sharing.
    var childPaths = new Rng(12);
    var children = Enumerable.Range(0, 16).Select(_ => RandomPath(childPaths)).ToArray();
    // children-at-mean: the 16 sampled architectures closest to the mean path's FLOPs, likewise (one child at the
    // mean is one draw: architectures of equal FLOPs train at very different speeds here).
    var nearMean = paths.OrderBy(g => Math.Abs(space.Costs.Of(g).Total.MFlops - meanMFlops)).Take(16).ToArray();
    var runs = names.Select(n =>
    {
        var genotypes = n switch { "random-children" => children, "children-at-mean" => nearMean, _ => null };
        var nets = genotypes is not null
            ? genotypes.Select(g => (SuperNet.Child(space, g), (Func<Rng, int[]>?)null)).ToArray()
            : [Build(n)];
        var optimizers = nets.Select(x => NewOptimizer(x.Item1)).ToArray();
        foreach (var x in nets) x.Item1.train();
        if (nets.Length > 1)
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{n}: mean {genotypes!.Average(g => space.Costs.Of(g).Total.MFlops):F3} MFLOPs"));
        return (Name: n, Nets: nets, Optimizers: optimizers, Rng: new Rng(0), Step: 0);
    }).ToArray();
    var roundSeconds = new double[runs.Length, rounds];
    for (var round = -1; round < rounds; round++) // round -1 warms every network up, untimed
        for (var r = 0; r < runs.Length; r++)
        {
            var run = runs[r];
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < (round < 0 ? warmup : block); i++)
            {
                var which = run.Step / block % run.Nets.Length;
                var (net, sample) = run.Nets[which];
                var optimizer = run.Optimizers[which];
                if (sample is not null) net.SetPath(sample(run.Rng));
                using var scope = NewDisposeScope();
                var b = batches[run.Step++ % batches.Length];
                var loss = StepLoss(net, b);
                net.zero_grad(true);
                loss.backward();
                optimizer.step();
            }
            if (round >= 0) roundSeconds[r, round] = clock.Elapsed.TotalSeconds;
            runs[r] = run;
        }
    var parts = new List<string> { $"loop=paired threads={get_num_threads()} batch={batchSize} rounds={rounds} " +
        $"block={block} kernels_apart={kernelsApart.Count}" };
    for (var r = 0; r < runs.Length; r++)
    {
        var total = Enumerable.Range(0, rounds).Sum(i => roundSeconds[r, i]);
        var line = string.Create(CultureInfo.InvariantCulture,
            $"network={runs[r].Name} images_per_s={(double)rounds * block * batchSize / total:F0}");
        if (r > 0)
        {
            // Throughput against the first network's over all rounds, and round by round.
            var ratios = Enumerable.Range(0, rounds).Select(i => roundSeconds[0, i] / roundSeconds[r, i]).Order()
                .ToArray();
            var firstTotal = Enumerable.Range(0, rounds).Sum(i => roundSeconds[0, i]);
            line += string.Create(CultureInfo.InvariantCulture,
                $" against_{runs[0].Name}={firstTotal / total:F3} round_median={ratios[rounds / 2]:F3} " +
                $"round_p10={ratios[rounds / 10]:F3} round_p90={ratios[rounds * 9 / 10]:F3}");
        }
        parts.Add(line);
        foreach (var o in runs[r].Optimizers) o.Dispose();
        foreach (var (net, _) in runs[r].Nets) net.Dispose();
    }
    return string.Join(Environment.NewLine, parts);
}

static long Status(string key) => long.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith(key))
    .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
static long Rss() => Status("VmRSS:");
static long PeakRss() => Status("VmHWM:");
static long MinorFaults() => long.Parse(File.ReadAllText("/proc/self/stat").Split(')')[1].Split(' ',
    StringSplitOptions.RemoveEmptyEntries)[7]);
