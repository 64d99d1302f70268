using System.Diagnostics;
using System.Globalization;
using HourNas.Engine.Data;
using HourNas.Engine.Networks;
using HourNas.Engine.Training;
using HourNas.SearchSpace;
using static TorchSharp.torch;

// Training throughput and memory on the fashion-mnist preset, for docs/performance.md.
//   --network child|child-at-mean|supernet|entangled|entangled-pbn   the `manual` genotype; a child whose FLOPs
//                              equal the mean of the supernet's uniform random paths (the fair comparison for a
//                              supernet step); or the full supernet (independent or entangled weights, the latter also
//                              with per-candidate BatchNorms) with a uniform random path per step
//   --loop step|trainer        step: the bare training step over pre-built batches (what the PyTorch script runs);
//                              trainer: HourNas.Engine's Trainer with its loader and augmentation
//   --steps N --warmup N --batch N --channels-last true|false --threads N
// Prints one line of key=value pairs: images/s, peak RSS, RSS growth over the timed steps, minor page faults.
var opts = args.Select((a, i) => (a, i)).Where(x => x.a.StartsWith("--")).ToDictionary(x => x.a[2..],
    x => args[x.i + 1]);
string Opt(string k, string d) => opts.TryGetValue(k, out var v) ? v : d;
var network = Opt("network", "child");
var loop = Opt("loop", "step");
int steps = int.Parse(Opt("steps", "300")), warmup = int.Parse(Opt("warmup", "30")), batchSize = int.Parse(Opt("batch",
    "128"));
var channelsLast = bool.Parse(Opt("channels-last", "true"));
var device = TorchRuntime.Initialize("cpu", int.Parse(Opt("threads", "2")));

var (space, genotype) = Presets.Resolve("fashion-mnist", "manual");
if (loop == "ops")
{
    Console.WriteLine(OpBreakdown.Run(space, genotype, batchSize, channelsLast, steps));
    return;
}
var data = Datasets.Open(null, space.Skeleton);
var norm = Normalization.Estimate(data.Train);
// The mean FLOPs of the paths a uniform supernet step trains, and the sampled architecture closest to it.
var pathRng = new Rng(11);
var paths = Enumerable.Range(0, 20_000)
    .Select(_ => space.FromBlocks(space.Candidates.Select(c => c[pathRng.NextInt(c.Count)]).ToArray()))
    .ToArray();
var meanMFlops = paths.Average(g => space.Costs.Of(g).Total.MFlops);
var atMean = paths.MinBy(g => Math.Abs(space.Costs.Of(g).Total.MFlops - meanMFlops))!;
if (network == "child-at-mean")
    Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"mean path {meanMFlops:F3} MFLOPs; child {atMean} at {space.Costs.Of(atMean).Total.MFlops:F3} MFLOPs"));
manual_seed(0);
using var net = network switch
{
    "child" => SuperNet.Child(space, genotype),
    "child-at-mean" => SuperNet.Child(space, atMean),
    "supernet" => SuperNet.Full(space),
    "entangled" => SuperNet.Full(space, WeightSharing.Entangled),
    "entangled-pbn" => SuperNet.Full(space, WeightSharing.Entangled, normPerCandidate: true),
    _ => throw new ArgumentException(
        $"unknown network '{network}': child, child-at-mean, supernet, entangled or entangled-pbn"),
};
var counts = net.Options.Select(o => o.Count).ToArray();
Func<Rng, int[]>? samplePath = network.StartsWith("child",
    StringComparison.Ordinal) ? null : rng => counts.Select(rng.NextInt).ToArray();
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
    var batches = BatchLoader.Read(data.Train, batchSize, norm, train: true, seed: 0).Take(64).ToArray();
    using var optimizer = optim.SGD(net.parameters(), 0.05, momentum: 0.9, nesterov: true, weight_decay: 4e-5);
    var rng = new Rng(0);
    net.train();
    var phase = new Stopwatch();
    void Step(int i)
    {
        if (samplePath is not null) net.SetPath(samplePath(rng));
        using var scope = NewDisposeScope();
        var b = batches[i % batches.Length];
        phase.Restart();
        var logits = net.call(Tensors.Images(b, device, channelsLast));
        var loss = nn.functional.cross_entropy(logits, Tensors.Labels(b, device), label_smoothing: 0.1);
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
    $"impl=torchsharp network={network} loop={loop} channels_last={channelsLast} threads={get_num_threads()} " +
    $"batch={batchSize} steps={steps} images_per_s={steps * batchSize / seconds:F0} " +
    $"peak_rss_mb={PeakRss() / 1024.0:F0} rss_growth_mb={(Rss() - rssBefore) / 1024.0:F1} " +
    $"minor_faults={MinorFaults() - faultsBefore} rss_mb_every_100_steps={string.Join(',', rssSamples)} " +
    $"forward_ms={1000 * forwardSeconds / steps:F1} backward_ms={1000 * backwardSeconds / steps:F1} " +
    $"optimizer_ms={1000 * optimizerSeconds / steps:F1}");
Console.WriteLine(line);

static long Status(string key) => long.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith(key))
    .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
static long Rss() => Status("VmRSS:");
static long PeakRss() => Status("VmHWM:");
static long MinorFaults() => long.Parse(File.ReadAllText("/proc/self/stat").Split(')')[1].Split(' ',
    StringSplitOptions.RemoveEmptyEntries)[7]);
