using System.Diagnostics;
using HourNas.Engine.Data;
using HourNas.Engine.Networks;
using HourNas.SearchSpace;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HourNas.Engine.Training;

/// <summary>What a training run did: its last epoch's loss and accuracy, and its cost.</summary>
public sealed record TrainResult(int Epochs, double Loss, double Accuracy, long ImagesSeen, double Seconds)
{
    public double ImagesPerSecond => Seconds > 0 ? ImagesSeen / Seconds : 0;
}

/// <summary>
/// Trains a network, a supernet with a path sampled per step (single-path one-shot) or a fixed network.
/// Checkpoints at the end of every epoch into <c>checkpointFolder</c> and, when one is there, resumes from it;
/// a resumed run ends with the same weights as an uninterrupted one (epoch e's data order, augmentation and
/// paths come from (seed, e)).
/// </summary>
public sealed class Trainer(SuperNet net, TrainSettings settings, Device device, string stage, ulong seed,
    string? checkpointFolder = null, Action<Progress>? progress = null)
{
    private readonly TrainSettings _settings = settings.Validate();

    /// <param name="samplePath">
    /// Draws the path of one step (choice index per block); null trains the active path.
    /// </param>
    public TrainResult Train(IImageSource data, Normalization normalization, Func<Rng, int[]>? samplePath = null,
        CancellationToken cancellation = default)
    {
        net.to(device);
        using var optimizer = CreateOptimizer();
        var stepsPerEpoch = Math.Max(1, data.Count / _settings.BatchSize);
        var totalSteps = (long)stepsPerEpoch * _settings.Epochs;
        var network = string.Join(" | ", net.Options.Select(o => string.Join(',', o)));
        var (largest, smallest) = _settings.Sandwich ? SandwichEnds() : ([], []);

        var startEpoch = 0;
        long imagesSeen = 0;
        var secondsBefore = 0.0;
        var resumed = checkpointFolder is null ? null
            : Checkpoint.TryLoad(checkpointFolder, net, optimizer, stage, seed, network);
        if (resumed is not null)
        {
            (startEpoch, imagesSeen, secondsBefore) = (resumed.EpochsDone, resumed.ImagesSeen, resumed.Seconds);
            net.to(device);
        }
        // Made after the weights reach their device, so it follows the tensors the optimizer steps.
        using var average = _settings.WeightAverageDecay is { } decay ? new WeightAverage(net, decay) : null;
        if (resumed is not null && average is not null) Checkpoint.LoadAverage(checkpointFolder!, average);

        progress?.Invoke(new Progress(stage, "started", startEpoch, _settings.Epochs, 0, stepsPerEpoch, double.NaN,
            double.NaN, 0, secondsBefore));
        var clock = Stopwatch.StartNew();
        double loss = double.NaN, accuracy = double.NaN;
        for (var epoch = startEpoch; epoch < _settings.Epochs; epoch++)
        {
            using var epochSpan = Telemetry.Training.StartActivity($"{stage} epoch {epoch + 1}");
            epochSpan?.SetTag("hournas.epoch", epoch + 1);
            net.train();
            var pathRng = new Rng(Rng.Derive(seed, (ulong)epoch, 1));
            double lossSum = 0;
            long correct = 0, seen = 0;
            var step = 0;
            var epochClock = Stopwatch.StartNew();
            foreach (var batch in BatchLoader.Read(data, _settings.BatchSize, normalization, train: true,
                         Rng.Derive(seed, (ulong)epoch, 2), cancellation: cancellation))
            {
                cancellation.ThrowIfCancellationRequested();
                var lr = _settings.LearningRateAt((long)epoch * stepsPerEpoch + step, totalSteps, stepsPerEpoch);
                foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;
                net.SeedDropout(Rng.Derive(seed, (ulong)epoch, 3, (ulong)step));
                var paths = samplePath is null ? [null]
                    : _settings.StrictFairness ? FairPaths(pathRng)
                    : _settings.Sandwich ? [largest, smallest, samplePath(pathRng), samplePath(pathRng)]
                    : [samplePath(pathRng)];
                using (NewDisposeScope())
                {
                    var x = Tensors.Images(batch, device, _settings.ChannelsLast);
                    var y = Tensors.Labels(batch, device);
                    // Set-to-none, so candidates off this step's paths get no gradient, no decay and no momentum step.
                    net.zero_grad(true);
                    Tensor? teacher = null;
                    // The first path stands for the step; under the sandwich rule the first sampled one (the third),
                    // so its figures compare with a uniform step's.
                    var reported = _settings.Sandwich ? 2 : 0;
                    for (var p = 0; p < paths.Length; p++)
                    {
                        if (paths[p] is { } path) net.SetPath(path);
                        var logits = net.call(x);
                        // A distilled path's label loss is only reported, never trained on.
                        var l = teacher is null || p == reported
                            ? nn.functional.cross_entropy(logits, y, label_smoothing: _settings.LabelSmoothing)
                            : null;
                        if (teacher is not null)
                            // In-place distillation: soft cross-entropy against the largest path's predictions.
                            (-(teacher * nn.functional.log_softmax(logits, 1)).sum(1).mean()).backward();
                        else
                            (paths.Length == 1 || _settings.Sandwich ? l! : l! / paths.Length).backward();
                        net.CountStep();
                        if (_settings.Sandwich && p == 0) teacher = nn.functional.softmax(logits.detach(), 1);
                        if (p != reported) continue;
                        lossSum += l!.item<float>() * batch.Count;
                        correct += logits.argmax(1).eq(y).sum().item<long>();
                    }
                    optimizer.step();
                    average?.Update((long)epoch * stepsPerEpoch + step);
                }
                seen += batch.Count;
                step++;
                if (progress is not null && (step % _settings.ProgressEvery == 0 || step == stepsPerEpoch))
                    progress(new Progress(stage, "train", epoch + 1, _settings.Epochs, step, stepsPerEpoch,
                        lossSum / seen, (double)correct / seen, seen / epochClock.Elapsed.TotalSeconds,
                        secondsBefore + clock.Elapsed.TotalSeconds));
            }
            imagesSeen += seen;
            loss = lossSum / Math.Max(1, seen);
            accuracy = (double)correct / Math.Max(1, seen);
            if (checkpointFolder is not null)
                Checkpoint.Save(checkpointFolder, net, optimizer,
                    new Checkpoint.State(stage, seed, epoch + 1, imagesSeen, secondsBefore + clock.Elapsed.TotalSeconds,
                        network), average);
            var imagesPerSecond = seen / epochClock.Elapsed.TotalSeconds;
            epochSpan?.SetTag("hournas.loss", loss);
            epochSpan?.SetTag("hournas.accuracy", accuracy);
            epochSpan?.SetTag("hournas.images_per_second", imagesPerSecond);
            Telemetry.RecordEpoch(stage, loss, accuracy, imagesPerSecond);
            progress?.Invoke(new Progress(stage, "epoch", epoch + 1, _settings.Epochs, stepsPerEpoch, stepsPerEpoch,
                loss, accuracy, imagesPerSecond, secondsBefore + clock.Elapsed.TotalSeconds));
        }
        // The averaged weights are the result; the checkpoint keeps both, so a resume continues the same average.
        average?.CopyInto();
        return new TrainResult(_settings.Epochs, loss, accuracy, imagesSeen,
            secondsBefore + clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// One step's paths under strict fairness: a random permutation of every block's options, read off in turn,
    /// so each option of each block runs once (blocks with fewer options than the widest one repeat from the start).
    /// </summary>
    private int[]?[] FairPaths(Rng rng)
    {
        var options = net.Options;
        var perms = options.Select(o =>
        {
            var order = Enumerable.Range(0, o.Count).ToArray();
            rng.Shuffle(order);
            return order;
        }).ToArray();
        var count = options.Count == 0 ? 1 : options.Max(o => o.Count);
        return Enumerable.Range(0, count)
            .Select(i => (int[]?)perms.Select(order => order[i % order.Length]).ToArray()).ToArray();
    }

    /// <summary>
    /// The sandwich rule's fixed paths, the same every step: the largest and the smallest option of every block
    /// (by expansion, which sets the width, then kernel; skip is the smallest).
    /// </summary>
    private (int[] Largest, int[] Smallest) SandwichEnds()
    {
        static int Size(Operation op) => op.IsSkip ? 0 : op.Expansion * 100 + op.Kernel;
        var bySize = net.Options.Select(o => o.Select((op, i) => (op, i)).OrderBy(x => Size(x.op)).ToArray())
            .ToArray();
        return (bySize.Select(o => o[^1].i).ToArray(), bySize.Select(o => o[0].i).ToArray());
    }

    private SGD CreateOptimizer()
    {
        // Weight decay on conv and linear weights only; BatchNorm scales and all biases are 1-D.
        var parameters = net.parameters().ToArray();
        var decayed = parameters.Where(p => p.dim() > 1).ToArray();
        var plain = parameters.Where(p => p.dim() <= 1).ToArray();
        var s = _settings;
        return optim.SGD(
            [
                new SGD.ParamGroup(decayed, s.PeakLearningRate, s.Momentum, 0, s.WeightDecay, s.Nesterov, false),
                new SGD.ParamGroup(plain, s.PeakLearningRate, s.Momentum, 0, 0, s.Nesterov, false),
            ],
            s.PeakLearningRate, s.Momentum, 0, 0, s.Nesterov, false);
    }
}

/// <summary>Batch arrays to tensors on a device, optionally in channels-last layout (measured faster on CPU).</summary>
public static class Tensors
{
    public static Tensor Images(Batch batch, Device device, bool channelsLast)
    {
        long n = batch.Count, c = batch.Channels, h = batch.Height, w = batch.Width;
        var x = tensor(batch.Images, [n, c, h, w]);
        if (channelsLast)
        {
            // TorchSharp 0.107 has no memory_format API: build the NHWC-strided tensor ourselves.
            var y = empty_strided([n, c, h, w], [c * h * w, 1, w * c, c], x.dtype, x.device);
            y.copy_(x);
            x = y;
        }
        return ToDevice(x, device);
    }

    public static Tensor Labels(Batch batch, Device device)
    {
        return ToDevice(tensor(batch.Labels), device);
    }

    /// <summary>
    /// On a GPU a batch goes through page-locked memory and an asynchronous copy, so the host can prepare the next
    /// batch while the copy runs (TorchSharp 0.107 offers pin_memory and non_blocking, not autocast).
    /// </summary>
    private static Tensor ToDevice(Tensor host, Device device) =>
        device.type == DeviceType.CPU ? host : host.pin_memory().to(device, non_blocking: true);
}
