using HourNas.SearchSpace;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HourNas.Engine.Networks;

/// <summary>
/// Squeeze-and-excitation: pooled channels -> reduce (1x1, bias) -> activation -> expand (1x1, bias) -> sigmoid gate.
/// </summary>
public sealed class SqueezeExcite : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d reduce;
    private readonly nn.Module<Tensor, Tensor> act;
    private readonly Conv2d expand;

    public SqueezeExcite(long channels, long reduced, Activation activation) : base(nameof(SqueezeExcite))
    {
        reduce = nn.Conv2d(channels, reduced, 1);
        act = Layers.Activation(activation);
        expand = nn.Conv2d(reduced, channels, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var s = nn.functional.adaptive_avg_pool2d(x, 1);
        s = expand.call(act.call(reduce.call(s))).sigmoid();
        return (x * s).MoveToOuterDisposeScope();
    }
}
