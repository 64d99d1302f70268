using System.CommandLine;
using System.Text.Json;
using HourNas.Engine.Stages;
using HourNas.Engine.Training;
using HourNas.SearchSpace;

namespace HourNas.Cli;

/// <summary>
/// <c>hournas latency-table</c>: measures every candidate operation of a preset on this machine and writes the table
/// a latency budget needs; <c>--validate N</c> also measures N random whole networks against the table's sum.
/// </summary>
internal static class LatencyTableCommand
{
    internal sealed record Report(string Out, LatencyTable Table, LatencyValidation? Validation);

    public static Command Create(HournasCli cli)
    {
        var preset = HournasCli.Options.Preset(required: true);
        var device = new Option<string?>("--device") { Description = "cpu, cuda or cuda:N (default cpu)" };
        var batch = new Option<int>("--batch-size")
        {
            Description = "images per forward pass; latencies are per image",
            DefaultValueFactory = _ => 1,
        };
        var threads = new Option<int?>("--threads") { Description = "CPU threads (default: libtorch's)" };
        var repeats = new Option<int>("--repeats")
        {
            Description = "timed runs per operation (the median is kept), after 10 warm-up runs",
            DefaultValueFactory = _ => 50,
        };
        var validate = new Option<int>("--validate")
        {
            Description = "also measure this many random whole networks against the table's prediction",
            DefaultValueFactory = _ => 0,
        };
        var seed = new Option<ulong>("--seed") { Description = "seed of --validate", DefaultValueFactory = _ => 0 };
        var calibrate = new Option<int>("--calibrate")
        {
            Description = "fit what whole networks cost beyond their parts on this many random networks " +
                "(default 0: none; with parts timed in context little is left to fit, docs/performance.md)",
            DefaultValueFactory = _ => 0,
        };
        var output = new Option<string>("--out") { Description = "the table file to write", Required = true };
        var json = HournasCli.Options.Json();
        var command = new Command("latency-table",
            "measure the latency of every candidate operation of a preset, for latency budgets (--budget-ms)")
        {
            preset, device, batch, threads, repeats, validate, seed, calibrate, output, json,
        };
        command.SetAction(parse => cli.Guard(() =>
        {
            if (parse.GetValue(threads) is < 1)
                throw new SearchSpaceException($"--threads must be at least 1, got {parse.GetValue(threads)}");
            if (parse.GetValue(validate) < 0)
                throw new SearchSpaceException($"--validate must not be negative, got {parse.GetValue(validate)}");
            if (parse.GetValue(calibrate) < 0)
                throw new SearchSpaceException($"--calibrate must not be negative, got {parse.GetValue(calibrate)}");
            var space = new ArchitectureSpace(Presets.Skeleton(parse.GetValue(preset)!));
            var runtime = TorchRuntime.Initialize(parse.GetValue(device), parse.GetValue(threads));
            var table = LatencyProfiler.Measure(space, runtime, parse.GetValue(batch), repeats: parse.GetValue(repeats),
                log: cli.Error.WriteLine, calibration: parse.GetValue(calibrate));
            var path = parse.GetValue(output)!;
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            File.WriteAllText(path, table.ToJson());
            var validation = parse.GetValue(validate) is > 0 and var n
                ? LatencyProfiler.Validate(space.WithLatencies(table), runtime, n, parse.GetValue(seed),
                    parse.GetValue(repeats))
                : null;
            var report = new Report(path, table, validation);
            if (parse.GetValue(json))
            {
                cli.Out.WriteLine(JsonSerializer.Serialize(report, HourNasStages.Json));
                return 0;
            }
            var c = table.Conditions;
            cli.Out.WriteLine($"wrote {path}: {table.Blocks.Sum(b => b.Ops.Count)} operations of " +
                $"{table.Preset} on {c.Device}, batch {c.BatchSize}, {c.Threads} threads (median of {c.Repeats})");
            cli.Out.WriteLine($"fixed part (stem, head, classifier): {table.FixedNanoseconds / 1e6:F3} ms per image");
            if (table.Calibration is { } k)
                cli.Out.WriteLine($"calibration on {k.Networks} random networks: {k.ConstantNanoseconds / 1e3:F1} us " +
                    $"per network and {k.PerBlockNanoseconds / 1e3:F1} us per running block beyond the parts");
            if (validation is { } v)
                cli.Out.WriteLine($"validation on {v.Architectures} random networks: relative error median " +
                    $"{v.MedianRelativeError:P1}, worst {v.WorstRelativeError:P1}, mean signed " +
                    $"{v.MeanSignedRelativeError:+0.0%;-0.0%}");
            return 0;
        }));
        return command;
    }
}
