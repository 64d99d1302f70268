using HourNas.SearchSpace;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HourNas.Engine.Networks;

/// <summary>Small builders shared by every network module, so each layer pattern is spelled once.</summary>
internal static class Layers
{
    public static nn.Module<Tensor, Tensor> Activation(Activation activation) => activation switch
    {
        SearchSpace.Activation.ReLU => nn.ReLU(),
        SearchSpace.Activation.ReLU6 => nn.ReLU6(),
        SearchSpace.Activation.Swish => nn.SiLU(),
        _ => throw new ArgumentOutOfRangeException(nameof(activation), activation, null),
    };

    /// <summary>Conv (no bias, "same" padding) + BatchNorm (+ activation when given).</summary>
    public static Sequential ConvBn(long cin, long cout, long kernel, long stride, long groups, Activation? activation)
    {
        var modules = new List<(string, nn.Module<Tensor, Tensor>)>
        {
            ("conv", nn.Conv2d(cin, cout, kernel, stride: stride, padding: kernel / 2, groups: groups, bias: false)),
            ("bn", new BatchNorm(cout)),
        };
        if (activation is { } a) modules.Add(("act", Activation(a)));
        return nn.Sequential(modules);
    }
}
