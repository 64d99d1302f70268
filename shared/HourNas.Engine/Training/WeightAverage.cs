using HourNas.Engine.Networks;
using TorchSharp;
using static TorchSharp.torch;

namespace HourNas.Engine.Training;

/// <summary>
/// An exponential moving average of a network's weights (and BatchNorm statistics), updated after every optimizer
/// step: average = d * average + (1 - d) * weights. The decay ramps up as d_t = min(d, (1 + t) / (10 + t)) at step t,
/// so a short run is not dominated by its initial weights. Integer buffers (BatchNorm's step counters) are copied.
/// A module of buffers, so a checkpoint saves and loads it like a network.
/// </summary>
public sealed class WeightAverage : nn.Module
{
    private readonly List<(Tensor Live, Tensor Average)> _pairs = [];

    /// <param name="decay">In (0, 1), as <see cref="TrainSettings.Validate"/> checks.</param>
    public WeightAverage(SuperNet net, double decay) : base("weight-average")
    {
        Decay = decay;
        using var _ = no_grad();
        foreach (var (name, live) in net.LiveState())
        {
            var average = live.detach().clone();
            // Buffer names may not contain dots.
            register_buffer(name.Replace('.', '_'), average);
            _pairs.Add((live, average));
        }
    }

    public double Decay { get; }

    /// <summary>The decay used at step <paramref name="step"/> (0-based).</summary>
    public double DecayAt(long step) => Math.Min(Decay, (1.0 + step) / (10.0 + step));

    public void Update(long step)
    {
        var d = DecayAt(step);
        using var _ = no_grad();
        foreach (var (live, average) in _pairs)
        {
            if (live.is_floating_point()) average.mul_(d).add_(live, 1 - d);
            else average.copy_(live);
        }
    }

    /// <summary>Puts the averaged weights into the network (at the end of training).</summary>
    public void CopyInto()
    {
        using var _ = no_grad();
        foreach (var (live, average) in _pairs) live.copy_(average);
    }
}
