using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using HourNas.Coordination;
using HourNas.Experiments;
using Spectre.Console;

namespace HourNas.Cli;

/// <summary>
/// <c>hournas submit | status | watch | list | cancel | export | compare</c>: the coordinator's HTTP API from the
/// shell.
/// </summary>
internal static class ClientCommands
{
    private static Option<string> Coordinator() => new("--coordinator")
    {
        Description = $"coordinator address (default: {CoordinatorClient.EnvironmentVariable} or " +
            $"{CoordinatorClient.DefaultAddress})",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(CoordinatorClient.EnvironmentVariable)
            ?? CoordinatorClient.DefaultAddress,
    };

    private static Argument<string> Id() => new("id") { Description = "experiment id" };

    private static CoordinatorClient Client(ParseResult parse, Option<string> coordinator)
    {
        var text = parse.GetValue(coordinator)!;
        if (!Uri.TryCreate(text.EndsWith('/') ? text : text + "/", UriKind.Absolute, out var address)
            || address.Scheme is not ("http" or "https"))
            throw new ArgumentException($"invalid coordinator address '{text}': give an http:// or https:// URL");
        return new CoordinatorClient(address);
    }

    public static IEnumerable<Command> Create(HournasCli cli)
    {
        yield return Submit(cli);
        yield return Status(cli);
        yield return Watch(cli);
        yield return List(cli);
        yield return Cancel(cli);
        yield return Export(cli);
        yield return Compare(cli);
    }

    private static Command Submit(HournasCli cli)
    {
        var spec = new SpecOptions();
        var id = new Option<string?>("--id")
        {
            Description = "experiment id; submitting the same id and spec again is a no-op " +
                "(default: <preset>-<time>-<random>)",
        };
        var coordinator = Coordinator();
        var json = HournasCli.Options.Json();
        var command = new Command(
            "submit", "submit an experiment to the coordinator (distributed mode); prints its id");
        spec.AddTo(command);
        command.Options.Add(id);
        command.Options.Add(coordinator);
        command.Options.Add(json);
        command.SetAction(parse => cli.Guard(() =>
        {
            using var client = Client(parse, coordinator);
            var state = client.Submit(parse.GetValue(id), spec.Read(parse)).GetAwaiter().GetResult();
            if (parse.GetValue(json)) cli.Out.WriteLine(JsonSerializer.Serialize(state, PipelineJson.Options));
            else
            {
                cli.Out.WriteLine(state.Id);
                // stdout stays the bare id, for scripts
                cli.Error.WriteLine($"page: {Page(client, state.Id)}");
            }
            return 0;
        }));
        return command;
    }

    private static Command Status(HournasCli cli)
    {
        var id = Id();
        var coordinator = Coordinator();
        var json = HournasCli.Options.Json();
        var command = new Command("status", "an experiment's status and stages") { id, coordinator, json };
        command.SetAction(parse => cli.Guard(() =>
        {
            using var client = Client(parse, coordinator);
            var state = client.Get(parse.GetValue(id)!).GetAwaiter().GetResult();
            if (parse.GetValue(json)) cli.Out.WriteLine(JsonSerializer.Serialize(state, PipelineJson.Options));
            else
            {
                if (state.IsFinished)
                    ExperimentOutput.WriteSummary(
                        cli.Console, state, $"{client.Address}experiments/{state.Id}/artifacts");
                else ExperimentOutput.WriteStatus(cli.Console, state);
                cli.Out.WriteLine($"page:           {Page(client, state.Id)}");
            }
            return 0;
        }));
        return command;
    }

    /// <summary>
    /// The experiment's web page on the coordinator (stage timeline, curves, plots, genotype, artifacts).
    /// </summary>
    private static string Page(CoordinatorClient client, string id) =>
        $"{client.Address}ui/experiments/{Uri.EscapeDataString(id)}";

    private static Command Watch(HournasCli cli)
    {
        var id = Id();
        var coordinator = Coordinator();
        var interval = new Option<double>("--interval")
        {
            Description = "seconds between polls",
            DefaultValueFactory = _ => 1.0,
        };
        var command = new Command(
            "watch", "follow an experiment's progress until it ends; exit code 0 only if it completed")
        {
            id,
            coordinator,
            interval,
        };
        command.SetAction(parse => cli.Guard(() =>
        {
            using var client = Client(parse, coordinator);
            using var view = ProgressView.For(cli, json: false);
            while (true)
            {
                var state = client.Get(parse.GetValue(id)!).GetAwaiter().GetResult();
                view.Show(state);
                if (state.IsFinished)
                {
                    view.Dispose();
                    ExperimentOutput.WriteSummary(
                        cli.Console, state, $"{client.Address}experiments/{state.Id}/artifacts");
                    return state.Status == ExperimentStatus.Completed ? 0 : HournasCli.Failure;
                }
                Thread.Sleep(TimeSpan.FromSeconds(Math.Max(0.1, parse.GetValue(interval))));
            }
        }));
        return command;
    }

    private static Command List(HournasCli cli)
    {
        var coordinator = Coordinator();
        var json = HournasCli.Options.Json();
        var command = new Command("list", "every experiment the coordinator knows") { coordinator, json };
        command.SetAction(parse => cli.Guard(() =>
        {
            using var client = Client(parse, coordinator);
            var experiments = client.List().GetAwaiter().GetResult();
            if (parse.GetValue(json))
            {
                cli.Out.WriteLine(JsonSerializer.Serialize(experiments, PipelineJson.Options));
                return 0;
            }
            var table = new Table().AddColumns("id", "preset", "status", "stage", "submitted", "test top-1");
            foreach (var e in experiments)
                table.AddRow(Markup.Escape(e.Id), Markup.Escape(e.Preset), e.Status.ToString(), e.CurrentStage ?? "",
                    e.SubmittedAt.ToString("u", CultureInfo.InvariantCulture),
                    e.Top1?.ToString("P2", CultureInfo.InvariantCulture) ?? "");
            cli.Console.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command Compare(HournasCli cli)
    {
        var ids = new Argument<string[]>("ids")
        {
            Description = $"experiment ids (1 to {Coordination.Reports.ExperimentComparison.MaxExperiments})",
            Arity = ArgumentArity.OneOrMore,
        };
        var coordinator = Coordinator();
        var json = HournasCli.Options.Json();
        var command = new Command(
            "compare", "experiments side by side: results, stage seconds, the spec fields that differ")
        {
            ids,
            coordinator,
            json,
        };
        command.SetAction(parse => cli.Guard(() =>
        {
            using var client = Client(parse, coordinator);
            var chosen = parse.GetValue(ids)!.Distinct(StringComparer.Ordinal).ToArray();
            if (chosen.Length > Coordination.Reports.ExperimentComparison.MaxExperiments)
                throw new ArgumentException(
                    $"compare takes at most {Coordination.Reports.ExperimentComparison.MaxExperiments} experiments");
            var states = chosen.Select(id => client.Get(id).GetAwaiter().GetResult()).ToArray();
            var comparison = Coordination.Reports.ExperimentComparison.Of(states);
            if (parse.GetValue(json))
            {
                cli.Out.WriteLine(JsonSerializer.Serialize(comparison, PipelineJson.Options));
                return 0;
            }
            var results = new Table().AddColumns("experiment", "status", "test top-1", "MFLOPs", "params",
                "latency ms", "search s", "retrain s", "genotype");
            foreach (var e in comparison.Experiments)
                results.AddRow(Markup.Escape(e.Id), e.Status.ToString(), F(e.Top1, "P2"), F(e.MFlops, "F2"),
                    e.Params?.ToString("N0", CultureInfo.InvariantCulture) ?? "", F(e.LatencyMilliseconds, "F2"),
                    F(e.SearchSeconds, "F0"), F(e.RetrainSeconds, "F0"), Markup.Escape(e.Genotype ?? ""));
            cli.Console.Write(results);
            var stages = new Table().AddColumn("experiment");
            foreach (var stage in Contracts.PipelineStages.Sequence) stages.AddColumn($"{stage.Name} s");
            foreach (var e in comparison.Experiments)
                stages.AddRow([Markup.Escape(e.Id), .. e.StageSeconds.Values.Select(v => F(v, "F1"))]);
            cli.Console.Write(stages);
            if (comparison.SpecDifferences.Count == 0)
                cli.Console.WriteLine("the specs are the same");
            else
            {
                var differences = new Table().AddColumn("spec field");
                foreach (var e in comparison.Experiments) differences.AddColumn(Markup.Escape(e.Id));
                foreach (var (field, values) in comparison.SpecDifferences)
                    differences.AddRow([Markup.Escape(field), .. values.Select(v => Markup.Escape(v ?? "(unset)"))]);
                cli.Console.Write(differences);
            }
            cli.Console.WriteLine($"page: {client.Address}ui/compare?ids=" +
                string.Join(',', chosen.Select(Uri.EscapeDataString)));
            return 0;
        }));
        return command;

        static string F(double? value, string format) =>
            value?.ToString(format, CultureInfo.InvariantCulture) ?? "";
    }

    private static Command Cancel(HournasCli cli)
    {
        var id = Id();
        var coordinator = Coordinator();
        var command = new Command(
            "cancel", "cancel a running experiment (its running stage stops at the next step)")
        {
            id,
            coordinator,
        };
        command.SetAction(parse => cli.Guard(() =>
        {
            using var client = Client(parse, coordinator);
            var state = client.Cancel(parse.GetValue(id)!).GetAwaiter().GetResult();
            cli.Out.WriteLine($"experiment {state.Id}: {state.Status}");
            return 0;
        }));
        return command;
    }

    private static Command Export(HournasCli cli)
    {
        var id = Id();
        var coordinator = Coordinator();
        var to = new Option<string>("--to") { Description = "destination folder (default: ./<id>)" };
        var command = new Command(
            "export", "download every artifact of an experiment (genotype, weights, CSVs, plots, stage outputs)")
        {
            id,
            coordinator,
            to,
        };
        command.SetAction(parse => cli.Guard(() =>
        {
            using var client = Client(parse, coordinator);
            var experiment = parse.GetValue(id)!;
            var folder = Path.GetFullPath(parse.GetValue(to) ?? experiment);
            var files = client.Artifacts(experiment).GetAwaiter().GetResult();
            foreach (var file in files)
            {
                var relative = file.StartsWith(experiment + "/", StringComparison.Ordinal)
                    ? file[(experiment.Length + 1)..]
                    : file;
                var target = Path.GetFullPath(Path.Combine(folder, relative));
                if (!target.StartsWith(folder + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                    throw new InvalidDataException(
                        $"the coordinator listed '{file}', which would land outside {folder}");
                client.Download(experiment, file, target).GetAwaiter().GetResult();
            }
            cli.Out.WriteLine($"{files.Count} files of {experiment} in {folder}");
            return 0;
        }));
        return command;
    }
}
