using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using HourNas.SearchSpace;
using Spectre.Console;

namespace HourNas.Cli;

/// <summary>
/// The <c>hournas</c> command line. Results go to <see cref="Out"/> (tables, or JSON with --json); errors go to
/// <see cref="Error"/> with exit code 1. Both writers are injected so tests run the CLI in-process.
/// </summary>
public sealed class HournasCli
{
    public const int Failure = 1;

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    private HournasCli(TextWriter output, TextWriter error)
    {
        Out = output;
        Error = error;
        Console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = ReferenceEquals(output, System.Console.Out) && !System.Console.IsOutputRedirected
                ? AnsiSupport.Detect
                : AnsiSupport.No,
            ColorSystem = ReferenceEquals(output, System.Console.Out) && !System.Console.IsOutputRedirected
                ? ColorSystemSupport.Detect
                : ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        Console.Profile.Width = 160;
    }

    public TextWriter Out { get; }

    public TextWriter Error { get; }

    /// <summary>Spectre console writing to <see cref="Out"/>, plain text when that is not a terminal.</summary>
    public IAnsiConsole Console { get; }

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        var cli = new HournasCli(output, error);
        var root = new RootCommand(
            "hournas: HourNAS neural architecture search (vital blocks first, then a budget-shrunk space)")
        {
            PresetsCommand.Create(cli),
            CostCommand.Create(cli),
            VitalCommand.Create(cli),
            ShrinkCommand.Create(cli),
            LatencyTableCommand.Create(cli),
            StageCommand.Create(cli),
            RunCommand.Create(cli),
        };
        foreach (var command in ClientCommands.Create(cli)) root.Subcommands.Add(command);
        return root.Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = error });
    }

    /// <summary>Runs a command body; bad input becomes a one-line error on stderr and exit code 1.</summary>
    public int Guard(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (e is SearchSpaceException or Engine.Data.DataException or FileNotFoundException
                                       or InvalidDataException or ArgumentException or InvalidOperationException)
        {
            Error.WriteLine($"error: {e.Message}");
            return Failure;
        }
    }

    public void WriteJson<T>(T value) => Out.WriteLine(JsonSerializer.Serialize(value, Json));

    /// <summary>Options several commands share, so each is spelled once.</summary>
    public static class Options
    {
        public static Option<string> Preset(bool required) => new("--preset", "-p")
        {
            Description = "skeleton preset name (see 'hournas presets') or a skeleton .json file",
            Required = required,
        };

        public static Option<bool> Json() => new("--json") { Description = "machine-readable JSON on stdout" };
    }
}
