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

    public double Score(SuperNet net, IReadOnlyList<int> choice)
    {
        _ctx.Cancellation.ThrowIfCancellationRequested();
        net.SetPath(choice);
        var batch = _ctx.Train.BatchSize;
        Evaluator.RecalibrateBatchNorm(net, SearchTrain, _ctx.Normalization, _ctx.Device, _settings.BatchNormBatches,
            batch, Rng.Derive(_ctx.Seed, 77), _ctx.Train.ChannelsLast);
        var accuracy = Evaluator.Evaluate(net, _validation, _ctx.Normalization, _ctx.Device,
            channelsLast: _ctx.Train.ChannelsLast);
        EvalImages += accuracy.Images + (long)_settings.BatchNormBatches * batch;
        return accuracy.Top1;
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
