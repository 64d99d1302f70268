using System.Globalization;
using HourNas.Engine.Data;
using HourNas.Engine.Networks;
using HourNas.Engine.Stages;
using HourNas.Engine.Training;
using HourNas.SearchSpace;
using TorchSharp;
using static TorchSharp.torch;

// How fast stage 1's vital supernet learns: its training top-1 after each epoch, under one configuration after
// another in one invocation (so machine drift hits them alike). A configuration is
//   <independent|entangled>:<uniform|fair|sandwich|first-k3e1|fixed|kernel|expansion|no-e1|e1-only>[:lr=0.1][:bs=128]
//   [:warmup=0.3][:pbn=1][:kap=0]
// pbn=1 gives each entangled candidate BatchNorms of its own (switchable BatchNorm); kap=N keeps each kernel's
// weights apart in the first N blocks (SearchSettings.KernelsApartBlocks; the pipeline's default is 1).
// lr is given for batch 128 (TrainSettings.ReferenceBatchSize): the peak rate is lr * bs / 128.
// fixed trains one path (k5e3 in every vital block: the same network trained alone); kernel draws only the kernel
// (e3 kept), expansion only the expansion (k5 kept, e1 left out), no-e1 and e1-only draw from those candidates.
// fair is FairNAS-style fairness: every candidate of a block runs once per round of as many steps as it has
// candidates, in a fresh random order each round (each step still updates the weights); first-k3e1 fixes the first
// block to EfficientNet's k3e1 and draws the others uniformly; sandwich is BigNAS's rule (TrainSettings.Sandwich).
// fixed-depth (with --space full) draws every block's operation but never skip: the released HourNAS-F keeps all
// blocks.
// --space full trains the whole-space supernet (bulbs included) instead of stage 1's vital one.
//   dotnet run -c Release --project benchmarks/HourNas.SupernetConvergence -- [--images 60000] [--epochs 1]
//     [--space vital|full]
//     entangled:uniform independent:uniform entangled:fixed
var images = 60000;
var epochs = 1;
var full = false;
var configurations = new List<string>();
for (var i = 0; i < args.Length; i++)
{
    if (args[i] == "--images") images = int.Parse(args[++i], CultureInfo.InvariantCulture);
    else if (args[i] == "--epochs") epochs = int.Parse(args[++i], CultureInfo.InvariantCulture);
    else if (args[i] == "--space") full = args[++i] == "full";
    else configurations.Add(args[i]);
}
if (configurations.Count == 0) configurations.AddRange(["entangled:uniform", "independent:uniform", "entangled:fixed"]);

var device = TorchRuntime.Initialize("cpu");
var space = new ArchitectureSpace(Presets.Skeleton("fashion-mnist"));
var data = Datasets.Open(null, space.Skeleton);
foreach (var configuration in configurations)
{
    var parts = configuration.Split(':');
    var sharing = Enum.Parse<WeightSharing>(parts[0], ignoreCase: true);
    var knobs = parts.Skip(2).Select(p => p.Split('='))
        .ToDictionary(p => p[0], p => double.Parse(p[1], CultureInfo.InvariantCulture));
    var train = new TrainSettings(Epochs: epochs, LearningRate: knobs.GetValueOrDefault("lr", 0.1),
        BatchSize: (int)knobs.GetValueOrDefault("bs", 128), WarmupEpochs: knobs.GetValueOrDefault("warmup", 0.3));
    var ctx = new StageContext(device, data, Path.Combine(Path.GetTempPath(), "hournas-convergence"), 1, train, images);
    manual_seed(1);
    var normPerCandidate = knobs.GetValueOrDefault("pbn", 0) != 0;
    var kernelsApart = new SearchSettings(KernelsApartBlocks: (int)knobs.GetValueOrDefault("kap", 0))
        .KernelsApart(space);
    using var net = full
        ? SuperNet.Full(space, sharing, normPerCandidate, kernelsApart)
        : SuperNet.Vital(space, sharing, normPerCandidate, kernelsApart);
    int[] Draw(Rng rng, Func<Operation, bool> keep) => net.Options.Select(o =>
    {
        var allowed = o.Select((op, i) => (op, i)).Where(x => x.op.IsSkip || keep(x.op)).Select(x => x.i).ToArray();
        return allowed[rng.NextInt(allowed.Length)];
    }).ToArray();
    var rounds = net.Options.Select(_ => new Queue<int>()).ToArray();
    int[] Fair(Rng rng) => net.Options.Select((o, b) =>
    {
        if (rounds[b].Count == 0)
            foreach (var i in Enumerable.Range(0, o.Count).OrderBy(_ => rng.NextDouble()).ToArray())
                rounds[b].Enqueue(i);
        return rounds[b].Dequeue();
    }).ToArray();
    var k3e1 = net.Options[0].ToList().FindIndex(op => op.Kernel == 3 && op.Expansion == 1);
    Func<Rng, int[]>? sampler = parts[1] switch
    {
        "fixed" => null,
        "uniform" or "sandwich" => rng => Draw(rng, _ => true),
        "fair" => Fair,
        "fixed-depth" => rng => net.Options.Select(o =>
        {
            var allowed = o.Select((op, i) => (op, i)).Where(x => !x.op.IsSkip).Select(x => x.i).ToArray();
            return allowed[rng.NextInt(allowed.Length)];
        }).ToArray(),
        "first-k3e1" => rng => Draw(rng, _ => true).Select((c, b) => b == 0 ? k3e1 : c).ToArray(),
        "kernel" => rng => Draw(rng, o => o.Expansion == 3),
        "expansion" => rng => Draw(rng, o => o.Kernel == 5 && o.Expansion > 1),
        "no-e1" => rng => Draw(rng, o => o.Expansion > 1),
        "e1-only" => rng => Draw(rng, o => o.Expansion == 1),
        _ => throw new ArgumentException($"unknown sampler '{parts[1]}' in '{configuration}'"),
    };
    // The sandwich rule (TrainSettings.Sandwich) runs four passes a step, so it also reports after a quarter epoch:
    // the compute of one uniform epoch.
    var stepsPerEpoch = Math.Max(1, ctx.FullTrain.Count / train.BatchSize);
    if (parts[1] == "sandwich") train = train with { Sandwich = true, ProgressEvery = Math.Max(1, stepsPerEpoch / 4) };
    if (sampler is null) net.SetPath(space.Parse("k5e3 | k5e3 skip skip | k5e3 skip skip | k5e3 skip"));
    new Trainer(net, train, device, "convergence", 1, progress: p =>
        {
            if (p.Phase == "train" && train.Sandwich && p.Step == train.ProgressEvery && p.Epoch == 1)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{configuration,-40} after a quarter epoch: training top-1 {p.Accuracy:P1}"));
            if (p.Phase == "epoch")
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{configuration,-40} epoch {p.Epoch}: training top-1 {p.Accuracy:P1}, loss {p.Loss:F3}, "
                    + $"{p.ImagesPerSecond:F0} images/s"));
        })
        .Train(ctx.FullTrain, ctx.Normalization, sampler);
}
