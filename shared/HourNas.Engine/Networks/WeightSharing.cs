namespace HourNas.Engine.Networks;

/// <summary>How a supernet's candidates of one block hold their weights.</summary>
public enum WeightSharing
{
    /// <summary>Every candidate has weights of its own (single-path one-shot as SPOS trains it).</summary>
    Independent,

    /// <summary>
    /// The candidates share one set of weights at the largest kernel and expansion (<see cref="EntangledMBConv"/>).
    /// </summary>
    Entangled,
}
