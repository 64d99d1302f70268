namespace HourNas.Cli.Tests;

/// <summary><c>hournas stage predict</c> on a tiny stage-1 supernet: its predictions and every refused input.</summary>
public sealed class PredictCommandTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"hournas-predict-{Guid.NewGuid():N}");

    private string Stage1(string sharing)
    {
        var folder = Path.Combine(_root, $"s1-{sharing}");
        // 2,048 images at batch 16: 115 steps, so every vital candidate trains (a miss has odds of about 1e-6).
        var r = CliRunner.Run("stage", "stage1", "--preset", "fashion-mnist", "-b", "2.0", "--epochs", "1",
            "--train-limit", "2048", "--batch-size", "16",
            "--population", "2", "--generations", "1", "--validation-images", "64", "--weight-sharing", sharing,
            "--out", folder, "--json");
        Assert.True(r.ExitCode == 0, r.Error);
        return Path.Combine(folder, "vital-supernet.dat");
    }

    private string GenotypeFile(params string[] lines)
    {
        Directory.CreateDirectory(_root);
        var path = Path.Combine(_root, $"{Guid.NewGuid():N}.txt");
        File.WriteAllLines(path, lines);
        return path;
    }

    private static CliResult Predict(string weights, string genotypes, params string[] more) =>
        CliRunner.Run(["stage", "predict", "--preset", "fashion-mnist", "--weights", weights, "--genotypes", genotypes,
            "--train-limit", "2048", "--validation-images", "64", .. more]);

    [Theory]
    [InlineData("independent")]
    [InlineData("entangled")]
    public void Every_genotype_of_the_file_gets_a_prediction_in_file_order(string sharing)
    {
        var weights = Stage1(sharing);
        var file = GenotypeFile("# vital choices only: what a stage-1 supernet can score", "",
            "k3e1 | k5e3 skip skip | k3e6 skip skip | k7e3 skip",
            "k5e6 | k3e1 skip skip | k7e1 skip skip | k3e3 skip  # comment");
        var r = Predict(weights, file, "--json");
        Assert.True(r.ExitCode == 0, r.Error);
        var predictions = r.Json.GetProperty("predictions").EnumerateArray().ToArray();
        Assert.Equal(2, predictions.Length);
        Assert.Equal("k5e6 | k3e1 skip skip | k7e1 skip skip | k3e3 skip",
            predictions[1].GetProperty("genotype").GetString());
        Assert.All(predictions, p => Assert.InRange(p.GetProperty("accuracy").GetDouble(), 0.0, 1.0));
        // The validation loss the search ranks by: a mean cross-entropy, positive and finite.
        Assert.All(predictions, p => Assert.InRange(p.GetProperty("loss").GetDouble(), 1e-6, 20.0));
        var cost = CliRunner.Run("cost", "--preset", "fashion-mnist", "--genotype",
            "k3e1 | k5e3 skip skip | k3e6 skip skip | k7e3 skip", "--json");
        Assert.Equal(cost.Json.GetProperty("mFlops").GetDouble(), predictions[0].GetProperty("mFlops").GetDouble(), 6);
    }

    [Fact]
    public void Refused_input_names_the_line_the_block_or_the_file()
    {
        var weights = Stage1("entangled");
        var good = "k3e1 | k5e3 skip skip | k3e6 skip skip | k7e3 skip";

        var bulb = Predict(weights, GenotypeFile(good, "k3e1 | k5e3 k3e3 skip | k3e6 skip skip | k7e3 skip"));
        Assert.Equal(1, bulb.ExitCode);
        Assert.Contains("line 2", bulb.Error);
        Assert.Contains("block 2: this supernet holds no weights for 'k3e3'", bulb.Error);

        var otherPreset = Predict(weights, GenotypeFile(good, "# the smoke preset's", "k3e1 | k3e3 skip | k5e3 skip"));
        Assert.Equal(1, otherPreset.ExitCode);
        Assert.Contains("line 3", otherPreset.Error);
        Assert.Contains("stages", otherPreset.Error);

        var vitalSkip = Predict(weights, GenotypeFile("skip | k5e3 skip skip | k3e6 skip skip | k7e3 skip"));
        Assert.Contains("line 1", vitalSkip.Error);
        Assert.Contains("block 0", vitalSkip.Error);

        Assert.Contains("do not exist", Predict(Path.Combine(_root, "none.dat"), GenotypeFile(good)).Error);
        var notWeights = GenotypeFile("not a weights file");
        Assert.Contains("is not a TorchSharp weights file", Predict(notWeights, GenotypeFile(good)).Error);
        Assert.Contains("holds no genotype", Predict(weights, GenotypeFile("# nothing", "")).Error);
        Assert.Contains("needs --weights", CliRunner.Run("stage", "predict", "--preset", "fashion-mnist").Error);
    }

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, true);
    }
}
