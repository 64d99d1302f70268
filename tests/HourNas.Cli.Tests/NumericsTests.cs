using System.Text.Json;

namespace HourNas.Cli.Tests;

/// <summary>
/// HOURNAS_NUMERICS=portable holds libtorch's CPU libraries to their AVX2 code paths from inside the process; it
/// must train exactly as a process started with those variables set, and the model card must say what ran.
/// </summary>
public class NumericsTests
{
    private static readonly string[] Pins = ["ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR"];

    private static CliResult Retrain(string outDir, Dictionary<string, string?> environment) =>
        CliRunner.RunProcess(environment, "stage", "retrain", "--preset", "fashion-mnist", "--genotype", "manual",
            "--epochs", "1", "--train-limit", "512", "--batch-size", "32", "--out", outDir, "--json");

    private static Dictionary<string, string?> Unpinned()
    {
        var environment = Pins.ToDictionary(p => p, string? (_) => null);
        environment["HOURNAS_NUMERICS"] = null;
        environment["HOURNAS_THREADS"] = "2";
        return environment;
    }

    private static JsonElement Numerics(string outDir) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "model.json"))).RootElement.GetProperty("numerics");

    [Fact]
    public void Portable_mode_trains_as_a_process_started_with_the_pins_and_the_card_records_them()
    {
        var root = Path.Combine(Path.GetTempPath(), $"hournas-numerics-{Guid.NewGuid():N}");
        try
        {
            var portable = Unpinned();
            portable["HOURNAS_NUMERICS"] = "portable";
            var explicitPins = Unpinned();
            explicitPins["ATEN_CPU_CAPABILITY"] = "avx2";
            explicitPins["ONEDNN_MAX_CPU_ISA"] = "AVX2";
            explicitPins["MKL_CBWR"] = "AVX2";
            foreach (var (name, environment) in new[]
                     { ("portable", portable), ("explicit", explicitPins), ("native", Unpinned()) })
            {
                var r = Retrain(Path.Combine(root, name), environment);
                Assert.True(r.ExitCode == 0, r.Error);
            }

            Assert.Equal(File.ReadAllBytes(Path.Combine(root, "explicit", "weights.dat")),
                File.ReadAllBytes(Path.Combine(root, "portable", "weights.dat")));
            var card = Numerics(Path.Combine(root, "portable"));
            Assert.Equal("portable", card.GetProperty("mode").GetString());
            Assert.Equal("avx2", card.GetProperty("atenCpuCapability").GetString());
            Assert.Equal("AVX2", card.GetProperty("oneDnnMaxCpuIsa").GetString());
            Assert.Equal("AVX2", card.GetProperty("mklCbwr").GetString());
            Assert.Equal(2, card.GetProperty("threads").GetInt32());
            Assert.False(string.IsNullOrWhiteSpace(card.GetProperty("cpu").GetString()));
            Assert.Equal("AVX2", Numerics(Path.Combine(root, "explicit")).GetProperty("mklCbwr").GetString());
            var stageFile = JsonDocument.Parse(File.ReadAllText(Path.Combine(root, "portable", "numerics.json")));
            foreach (var field in card.EnumerateObject())
                Assert.Equal(field.Value.ToString(), stageFile.RootElement.GetProperty(field.Name).ToString());
            var native = Numerics(Path.Combine(root, "native"));
            Assert.Equal("native", native.GetProperty("mode").GetString());
            Assert.Equal(JsonValueKind.Null, native.GetProperty("atenCpuCapability").ValueKind);
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, true);
        }
    }

    [Fact]
    public void An_unknown_mode_is_a_clear_error_before_training()
    {
        var environment = Unpinned();
        environment["HOURNAS_NUMERICS"] = "fast";
        var outDir = Path.Combine(Path.GetTempPath(), $"hournas-numerics-{Guid.NewGuid():N}");
        try
        {
            var r = Retrain(outDir, environment);
            Assert.NotEqual(0, r.ExitCode);
            Assert.Contains("HOURNAS_NUMERICS must be 'portable' or 'native'", r.Error);
            Assert.Contains("'fast'", r.Error);
            Assert.DoesNotContain("[retrain] epoch", r.Error);
        }
        finally
        {
            if (Directory.Exists(outDir)) Directory.Delete(outDir, true);
        }
    }
}
