using System.Collections.Concurrent;
using HourNas.SearchSpace;

namespace HourNas.Engine.Data;

/// <summary>
/// Per-channel mean and standard deviation (of pixel values scaled to [0, 1]) used to normalise inputs.
/// </summary>
public sealed record Normalization(float[] Mean, float[] Std)
{
    /// <summary>Estimated from up to <paramref name="sample"/> un-augmented training images (seeded).</summary>
    public static Normalization Estimate(IImageSource source, int sample = 5000, ulong seed = 0)
    {
        var rng = new Rng(seed);
        var count = Math.Min(sample, source.Count);
        var order = Enumerable.Range(0, source.Count).ToArray();
        rng.Shuffle(order);
        int c = source.Channels, plane = source.Height * source.Width;
        var sum = new double[c];
        var sumSq = new double[c];
        var buffer = new byte[c * plane];
        for (var i = 0; i < count; i++)
        {
            source.Read(order[i], buffer, augment: false, rng);
            for (var ch = 0; ch < c; ch++)
                for (var p = 0; p < plane; p++)
                {
                    var v = buffer[ch * plane + p] / 255.0;
                    sum[ch] += v;
                    sumSq[ch] += v * v;
                }
        }
        var n = (double)count * plane;
        var mean = sum.Select(s => s / n).ToArray();
        var std = sumSq.Select((s, ch) => Math.Sqrt(Math.Max(1e-12, s / n - mean[ch] * mean[ch]))).ToArray();
        return new Normalization(mean.Select(m => (float)m).ToArray(), std.Select(s => (float)s).ToArray());
    }
}

/// <summary>A batch as plain arrays (NCHW floats, int64 labels); tensors are made by the training thread.</summary>
public sealed record Batch(float[] Images, long[] Labels, int Count, int Channels, int Height, int Width);

/// <summary>
/// Reads batches ahead of the training step on a background thread (decoding in parallel when the source is
/// expensive), so the step never waits for data. Order and augmentation come only from <c>seed</c>: one epoch's
/// batches are the same on every run, whatever the number of <c>workers</c> (the threads that decode; 0 lets the
/// thread pool choose, about one per core).
/// </summary>
public static class BatchLoader
{
    public static IEnumerable<Batch> Read(IImageSource source, int batchSize, Normalization normalization, bool train,
        ulong seed, int prefetch = 4, CancellationToken cancellation = default, int workers = 0)
    {
        if (workers < 0)
            throw new ArgumentOutOfRangeException(nameof(workers), workers, "must be 0 (all cores) or more");
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "must be at least 1");
        var rng = new Rng(seed);
        var order = Enumerable.Range(0, source.Count).ToArray();
        if (train) rng.Shuffle(order);
        var batches = train ? source.Count / batchSize : (source.Count + batchSize - 1) / batchSize;
        if (train && batches == 0) batches = 1; // fewer images than one batch: one smaller batch
        // One seed per batch, drawn up front, so parallel decoding stays deterministic.
        var seeds = Enumerable.Range(0, batches).Select(_ => rng.NextUInt64()).ToArray();

        using var queue = new BlockingCollection<Batch>(Math.Max(1, prefetch));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var producer = Task.Factory.StartNew(() =>
        {
            try
            {
                for (var b = 0; b < batches && !stop.IsCancellationRequested; b++)
                {
                    var start = b * batchSize;
                    var count = Math.Min(batchSize, source.Count - start);
                    var indices = order.AsSpan(start, count).ToArray();
                    queue.Add(Build(source, indices, normalization, train, seeds[b], workers), stop.Token);
                }
            }
            catch (OperationCanceledException)
            {
            }
            finally
            {
                queue.CompleteAdding();
            }
        }, TaskCreationOptions.LongRunning);

        try
        {
            foreach (var batch in queue.GetConsumingEnumerable(cancellation)) yield return batch;
            producer.GetAwaiter().GetResult(); // surface a reader's exception (e.g. a corrupt file)
        }
        finally
        {
            stop.Cancel();
            try { producer.Wait(); } catch (AggregateException) { }
        }
    }

    private static Batch Build(IImageSource source, int[] indices, Normalization norm, bool augment, ulong seed,
        int workers)
    {
        int c = source.Channels, h = source.Height, w = source.Width, size = c * h * w, plane = h * w;
        // Every element is written below; a batch at 224 px is tens of megabytes, not worth zeroing first.
        var images = GC.AllocateUninitializedArray<float>(indices.Length * size);
        var labels = new long[indices.Length];
        var itemSeeds = new Rng(seed);
        var seeds = indices.Select(_ => itemSeeds.NextUInt64()).ToArray();
        var scale = norm.Std.Select(s => 1f / (255f * s)).ToArray();
        var shift = norm.Mean.Select((m, ch) => -m / norm.Std[ch]).ToArray();

        void Item(int i)
        {
            var bytes = PixelVectors.Grow(ref ItemBuffer, size).AsSpan(0, size);
            source.Read(indices[i], bytes, augment, new Rng(seeds[i]));
            labels[i] = source.Label(indices[i]);
            var dest = images.AsSpan(i * size, size);
            for (var ch = 0; ch < c; ch++)
                PixelVectors.Widen(bytes.Slice(ch * plane, plane), dest.Slice(ch * plane, plane), scale[ch],
                    shift[ch]);
        }

        if (!source.IsExpensive)
        {
            for (var i = 0; i < indices.Length; i++) Item(i);
        }
        else
        {
            try
            {
                var options = new ParallelOptions { MaxDegreeOfParallelism = workers == 0 ? -1 : workers };
                Parallel.For(0, indices.Length, options, Item);
            }
            catch (AggregateException e) when (e.InnerExceptions.Count > 0)
            {
                // Report the reader's own error (it names the bad file), not the parallel wrapper.
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
            }
        }
        return new Batch(images, labels, indices.Length, c, h, w);
    }

    [ThreadStatic] private static byte[]? ItemBuffer;
}
