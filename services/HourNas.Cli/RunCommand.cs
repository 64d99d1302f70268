using System.CommandLine;
using System.Text.Json;
using HourNas.Coordination;
using HourNas.Embedded;
using HourNas.Experiments;
using HourNas.Pipeline;
using HourNas.ServiceDefaults;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace HourNas.Cli;

/// <summary>
/// <c>hournas run</c>: the whole pipeline in this process (embedded mode), live progress, a summary and a report
/// folder.
/// </summary>
internal static class RunCommand
{
    public static Command Create(HournasCli cli)
    {
        var spec = new SpecOptions();
        var output = new Option<string>("--out", "-o")
        {
            Description = "artifact root; the experiment's folder is <out>/<id>",
            DefaultValueFactory = _ => "out",
        };
        var id = new Option<string?>("--id") { Description = "experiment id (default: <preset>-<time>-<random>)" };
        var json = HournasCli.Options.Json();
        var command = new Command(
            "run", "run the whole pipeline in one process: vital blocks, stage 1, shrink, stage 2, retraining");
        spec.AddTo(command);
        command.Options.Add(output);
        command.Options.Add(id);
        command.Options.Add(json);
        command.SetAction(parse => cli.Guard(() =>
            Run(cli, spec.Read(parse), parse.GetValue(output)!, parse.GetValue(id), parse.GetValue(json))
                .GetAwaiter()
                .GetResult()));
        return command;
    }

    private static async Task<int> Run(
        HournasCli cli, Contracts.ExperimentSpec spec, string output, string? id, bool json)
    {
        // The CLI reports failures itself; the hosts' logs would repeat them with stack traces.
        var settings = new Dictionary<string, string?>
        {
            ["Logging:LogLevel:Default"] = "Error",
            ["Logging:LogLevel:Orleans"] = "Error",
            ["Logging:LogLevel:MassTransit"] = "None",
        };
        // The local user may train on any folder of theirs: it joins the default data roots for this run.
        if (spec.Data is { } data)
        {
            var roots = new ServiceDefaults.PipelineOptions { Artifacts = Path.GetFullPath(output) }
                .EffectiveDataRoots()
                .Append(data).ToArray();
            for (var i = 0; i < roots.Length; i++) settings[$"HourNas:DataRoots:{i}"] = roots[i];
        }
        using var host = PipelineRegistration.EmbeddedPipeline(Path.GetFullPath(output), settings).Build();
        await host.StartAsync();
        try
        {
            var experiments = host.Services.GetRequiredService<ExperimentService>();
            var state = await experiments.Submit(id, spec);
            using var interrupt = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) =>
            {
                e.Cancel = true;
                interrupt.Cancel();
            };
            Console.CancelKeyPress += onCancel;
            try
            {
                using var view = ProgressView.For(cli, json);
                while (true)
                {
                    state = await experiments.Get(state.Id)
                        ?? throw new InvalidOperationException($"experiment {state.Id} vanished");
                    view.Show(state);
                    if (state.IsFinished) break;
                    if (interrupt.IsCancellationRequested)
                    {
                        await experiments.Cancel(state.Id, "interrupted (Ctrl+C)");
                        continue;
                    }
                    await Task.Delay(500);
                }
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
            }
            var store = host.Services.GetRequiredService<ArtifactStore>();
            if (json) cli.Out.WriteLine(JsonSerializer.Serialize(state, PipelineJson.Options));
            else ExperimentOutput.WriteSummary(cli.Console, state, store.ExperimentFolder(state.Id));
            if (state.Status != ExperimentStatus.Completed)
            {
                cli.Error.WriteLine(
                    $"error: experiment {state.Id} {state.Status.ToString().ToLowerInvariant()}: " +
                    $"{state.FailureReason}");
                return HournasCli.Failure;
            }
            return 0;
        }
        finally
        {
            await host.StopAsync();
        }
    }
}
