using HourNas.Engine.Data;
using HourNas.Engine.Training;
using HourNas.SearchSpace;
using static TorchSharp.torch;

namespace HourNas.Engine.Tests;

/// <summary>
/// Real Fashion-MNIST (Debian's dataset-fashion-mnist, which test.sh installs) and the CPU device, loaded once.
/// </summary>
public sealed class FashionMnistFixture
{
    public FashionMnistFixture()
    {
        Device = TorchRuntime.Initialize("cpu");
        Space = new ArchitectureSpace(Presets.Skeleton("fashion-mnist"));
        Data = Datasets.Open(null, Space.Skeleton);
    }

    public Device Device { get; }

    public ArchitectureSpace Space { get; }

    public Dataset Data { get; }

    /// <summary>Tiny runs: few images, one short epoch, small batches.</summary>
    public static TrainSettings Tiny(int epochs = 1) => new(Epochs: epochs, BatchSize: 64, ProgressEvery: 1);
}

[CollectionDefinition(Name)]
public sealed class FashionMnistCollection : ICollectionFixture<FashionMnistFixture>
{
    public const string Name = "fashion-mnist";
}
