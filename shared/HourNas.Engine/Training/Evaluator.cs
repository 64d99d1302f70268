using System.Diagnostics;
using HourNas.Engine.Data;
using HourNas.Engine.Networks;
using HourNas.SearchSpace;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HourNas.Engine.Training;

/// <summary>An evaluation: top-1 and top-5 accuracy and the mean cross-entropy of the labels (nats).</summary>
public sealed record Accuracy(double Top1, double Top5, long Images, double Seconds, double Loss = double.NaN);

public static class Evaluator
{
    /// <summary>
    /// Top-1 and top-5 accuracy and the mean cross-entropy of the active path on <paramref name="data"/> (eval
    /// mode, no augmentation, no label smoothing).
    /// </summary>
    public static Accuracy Evaluate(SuperNet net, IImageSource data, Normalization normalization, Device device,
        int batchSize = 250, bool channelsLast = true)
    {
        var clock = Stopwatch.StartNew();
        net.eval();
        long top1 = 0, top5 = 0, seen = 0;
        double loss = 0;
        using var _ = no_grad();
        foreach (var batch in BatchLoader.Read(data, batchSize, normalization, train: false, seed: 0))
        {
            using var scope = NewDisposeScope();
            var logits = net.call(Tensors.Images(batch, device, channelsLast));
            var y = Tensors.Labels(batch, device);
            var k = Math.Min(5, logits.shape[1]);
            var (_, best) = logits.topk((int)k, dim: 1);
            var hits = best.eq(y.unsqueeze(1));
            top1 += hits[.., 0].sum().item<long>();
            top5 += hits.any(1).sum().item<long>();
            loss += nn.functional.cross_entropy(logits, y, reduction: nn.Reduction.Sum).item<float>();
            seen += batch.Count;
        }
        return new Accuracy((double)top1 / seen, (double)top5 / seen, seen, clock.Elapsed.TotalSeconds, loss / seen);
    }

    /// <summary>
    /// Re-estimates BatchNorm statistics for the active path from <paramref name="batches"/> training batches
    /// (cumulative average, no augmentation): a supernet's running statistics mix every path it trained, so
    /// evaluating one path with them misranks it. With <paramref name="batches"/> at or below zero the training
    /// running statistics stay as they are (only the mode switches to eval): with BatchNorms of its own per
    /// candidate they are the candidate's, and that measures whether re-estimation is still needed.
    /// </summary>
    public static void RecalibrateBatchNorm(SuperNet net, IImageSource train, Normalization normalization,
        Device device, int batches, int batchSize, ulong seed, bool channelsLast = true)
    {
        if (batches <= 0)
        {
            net.eval();
            return;
        }
        var norms = net.modules().OfType<Networks.BatchNorm>().ToArray();
        foreach (var bn in norms) bn.ResetRunningStatistics();
        net.train();
        using (no_grad())
        {
            var done = 0;
            foreach (var batch in BatchLoader.Read(train, batchSize, normalization, train: true, seed))
            {
                // Momentum 1/k on the k-th batch makes the running statistics the plain average over all k batches.
                done++;
                foreach (var bn in norms) bn.Momentum = 1.0 / done;
                using var scope = NewDisposeScope();
                net.call(Tensors.Images(batch, device, channelsLast));
                if (done == batches) break;
            }
        }
        foreach (var bn in norms) bn.Momentum = 0.1;
        net.eval();
    }

    /// <summary>Median wall-clock milliseconds per image of a forward pass at the batch size (after warm-up).</summary>
    public static double LatencyMilliseconds(SuperNet net, Skeleton skeleton, Device device, int runs = 50,
        int batchSize = 1)
    {
        net.eval();
        using var _ = no_grad();
        using var x = TorchRuntime.TimingInput([batchSize, skeleton.InputChannels, skeleton.InputSize,
            skeleton.InputSize], device);
        for (var i = 0; i < 5; i++) net.call(x).Dispose();
        var times = new double[runs];
        for (var i = 0; i < runs; i++)
        {
            var clock = Stopwatch.StartNew();
            net.call(x).Dispose();
            if (device.type == DeviceType.CUDA) cuda.synchronize();
            times[i] = clock.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        return times[runs / 2] / batchSize;
    }
}
