using HourNas.Engine.Data;
using HourNas.Engine.Networks;
using HourNas.Engine.Training;
using HourNas.SearchSpace;

namespace HourNas.Engine.Stages;

/// <summary>
/// Scores a supernet path the one-shot way: inherited weights, BatchNorm statistics re-estimated on training
/// batches of the search split, top-1 on a fixed subset of the held-out validation split (never the test set).
/// </summary>
internal sealed class CandidateScorer
{
    private readonly StageContext _ctx;
    private readonly SearchSettings _settings;
    private readonly IImageSource _validation;

    public CandidateScorer(StageContext ctx, SearchSettings settings, IImageSource searchTrain, IImageSource validation)
    {
        _ctx = ctx;
        _settings = settings;
        SearchTrain = searchTrain;
        _validation = ImageSources.Limit(validation, settings.ValidationImages, ctx.Seed);
    }

    public IImageSource SearchTrain { get; }

    public long EvalImages { get; private set; }

    public double Score(SuperNet net, IReadOnlyList<int> choice) => Evaluate(net, choice).Top1;

    /// <summary>The path's whole evaluation (<see cref="Score"/> is its top-1).</summary>
    public Accuracy Evaluate(SuperNet net, IReadOnlyList<int> choice)
    {
        _ctx.Cancellation.ThrowIfCancellationRequested();
        net.SetPath(choice);
        var batch = _ctx.Train.BatchSize;
        Evaluator.RecalibrateBatchNorm(net, SearchTrain, _ctx.Normalization, _ctx.Device, _settings.BatchNormBatches,
            batch, Rng.Derive(_ctx.Seed, 77), _ctx.Train.ChannelsLast);
        var accuracy = Evaluator.Evaluate(net, _validation, _ctx.Normalization, _ctx.Device,
            channelsLast: _ctx.Train.ChannelsLast);
        EvalImages += accuracy.Images + (long)Math.Max(0, _settings.BatchNormBatches) * batch;
        return accuracy;
    }

    /// <summary>
    /// Trains the path alone for a few steps (<see cref="FineTune"/>), from the supernet's weights or, for the
    /// control, from a freshly initialised child of the same genotype, then scores it. The supernet's weights and
    /// BatchNorm statistics are restored afterwards, so every candidate starts from the same inherited weights.
    /// </summary>
    public double ScoreFineTuned(SuperNet net, ArchitectureSpace space, Genotype genotype, FineTune fineTune,
        ulong seed) => EvaluateFineTuned(net, space, genotype, fineTune, seed).Top1;

    /// <summary>The fine-tuned path's whole evaluation (<see cref="ScoreFineTuned"/> is its top-1).</summary>
    public Accuracy EvaluateFineTuned(SuperNet net, ArchitectureSpace space, Genotype genotype, FineTune fineTune,
        ulong seed)
    {
        var choice = net.PathOf(genotype);
        var batch = _ctx.Train.BatchSize;
        var images = ImageSources.Limit(SearchTrain, fineTune.Steps * batch, seed);
        // One epoch over exactly Steps batches, cosine from the given rate to 0 without warm-up.
        var train = _ctx.Train with
        {
            Epochs = 1,
            LearningRate = fineTune.LearningRate,
            ReferenceBatchSize = batch,
            WarmupEpochs = 0,
        };
        if (fineTune.FromScratch)
        {
            using var child = TorchRuntime.Seeded(seed, () => SuperNet.Child(space, genotype));
            new Trainer(child, train, _ctx.Device, "fine-tune", seed).Train(images, _ctx.Normalization,
                cancellation: _ctx.Cancellation);
            return Evaluate(child, new int[space.Blocks.Count]);
        }
        var live = net.LiveState().ToArray();
        var saved = live.Select(t => t.Tensor.detach().clone()).ToArray();
        try
        {
            net.SetPath(choice);
            new Trainer(net, train, _ctx.Device, "fine-tune", seed).Train(images, _ctx.Normalization,
                cancellation: _ctx.Cancellation);
            return Evaluate(net, choice);
        }
        finally
        {
            using (TorchSharp.torch.no_grad())
                for (var i = 0; i < live.Length; i++)
                    live[i].Tensor.copy_(saved[i]);
            foreach (var t in saved) t.Dispose();
        }
    }

    /// <summary>
    /// Splits the context's training set into the search train and validation splits and builds a scorer.
    /// </summary>
    public static CandidateScorer Create(StageContext ctx, SearchSettings settings)
    {
        var (train, validation) = ImageSources.HoldOut(ctx.FullTrain, settings.ValidationFraction, ctx.Seed);
        return new CandidateScorer(ctx, settings, train, validation);
    }
}
