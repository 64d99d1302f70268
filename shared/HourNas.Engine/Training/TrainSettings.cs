namespace HourNas.Engine.Training;

/// <summary>
/// One training run's recipe: SGD with Nesterov momentum, linear warm-up then cosine decay per step, label
/// smoothing, weight decay on conv and linear weights only (not BatchNorm, not biases).
/// </summary>
public sealed record TrainSettings(
    int Epochs = 5,
    int BatchSize = 128,
    double LearningRate = 0.1,
    double Momentum = 0.9,
    bool Nesterov = true,
    double WeightDecay = 4e-5,
    double LabelSmoothing = 0.1,
    double WarmupEpochs = 0.3,
    bool ChannelsLast = true,
    int ProgressEvery = 50,
    int ReferenceBatchSize = TrainSettings.DefaultReferenceBatchSize,
    double? WeightAverageDecay = null,
    bool StrictFairness = false,
    bool Sandwich = false)
{
    // StrictFairness (FairNAS, Chu et al. 2021): a supernet step runs as many paths as its widest block has
    // options, every option of every block exactly once, on the same batch, and takes one update from their summed
    // gradients (each path's loss divided by their number); a step then costs that many forward-backward passes.
    // Its paths ignore the stage's path sampler, and so a budget's window: meant for full-space supernets.
    // Sandwich (the sandwich rule with in-place distillation, BigNAS, Yu et al. 2020): a step runs the largest path
    // (every block at its largest kernel and expansion) on the labels, then the smallest (skip where offered, else
    // the smallest operation) and two of the sampler's paths on the largest's predictions, and sums their gradients
    // into one update: four forward-backward passes a step. Largest and smallest ignore the sampler's window.

    /// <summary>The batch the default learning rate of 0.1 was tuned for, on every preset but imagenet.</summary>
    public const int DefaultReferenceBatchSize = 128;

    /// <summary>
    /// The linear scaling rule (Goyal et al. 2017): <see cref="LearningRate"/> is given for
    /// <see cref="ReferenceBatchSize"/> and the peak rate scales with the batch, so a small batch on a large-image
    /// preset does not diverge (imagenet at batch 16 with 0.1 did).
    /// </summary>
    public double PeakLearningRate => LearningRate * BatchSize / ReferenceBatchSize;

    public TrainSettings Validate()
    {
        if (Epochs < 1) throw new ArgumentException($"epochs must be at least 1, got {Epochs}");
        if (BatchSize < 1) throw new ArgumentException($"batch size must be at least 1, got {BatchSize}");
        if (!(LearningRate > 0)) throw new ArgumentException($"learning rate must be positive, got {LearningRate}");
        if (ReferenceBatchSize < 1)
            throw new ArgumentException($"reference batch size must be at least 1, got {ReferenceBatchSize}");
        if (WeightAverageDecay is { } d && !(d is > 0 and < 1))
            throw new ArgumentException($"the weight average's decay must be in (0, 1), got {d}");
        if (StrictFairness && Sandwich)
            throw new ArgumentException("strict fairness and the sandwich rule are two ways to choose a step's " +
                "paths: choose one");
        if (LabelSmoothing is < 0 or >= 1)
            throw new ArgumentException($"label smoothing must be in [0, 1), got {LabelSmoothing}");
        return this;
    }

    /// <summary>
    /// Learning rate at a step: linear warm-up from 0 to <see cref="PeakLearningRate"/>, then cosine decay to 0 at
    /// the last step.
    /// </summary>
    public double LearningRateAt(long step, long totalSteps, long stepsPerEpoch)
    {
        var warmup = (long)Math.Round(WarmupEpochs * stepsPerEpoch);
        if (step < warmup) return PeakLearningRate * (step + 1) / warmup;
        var progress = (double)(step - warmup) / Math.Max(1, totalSteps - warmup);
        return 0.5 * PeakLearningRate * (1 + Math.Cos(Math.PI * Math.Min(1, progress)));
    }
}

/// <summary>What a stage reports while it runs (also the content of StageProgressed events later).</summary>
public sealed record Progress(string Stage, string Phase, int Epoch, int Epochs, int Step, int Steps, double Loss,
    double Accuracy, double ImagesPerSecond, double Seconds);
