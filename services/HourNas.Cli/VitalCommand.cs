using System.CommandLine;
using HourNas.SearchSpace;
using Spectre.Console;

namespace HourNas.Cli;

internal static class VitalCommand
{
    public sealed record BlockInfo(int Block, int Stage, bool Vital, string Shape, string Reason);

    public sealed record Report(string Preset, IReadOnlyList<int> VitalBlocks, IReadOnlyList<int> NonVitalBlocks,
        double Paths, IReadOnlyList<BlockInfo> Blocks);

    public static Command Create(HournasCli cli)
    {
        var preset = HournasCli.Options.Preset(required: true);
        var json = HournasCli.Options.Json();
        var command = new Command("vital", "the vital blocks: those on every input-to-output path of the block graph")
        {
            preset, json,
        };
        command.SetAction(parse => cli.Guard(() =>
        {
            var space = new ArchitectureSpace(Presets.Skeleton(parse.GetValue(preset)!));
            var report = new Report(space.Skeleton.Name, space.VitalBlocks, space.NonVitalBlocks,
                space.Graph.PathCount(),
                space.Blocks.Select(b => new BlockInfo(b.Index, b.Stage + 1, space.IsVital[b.Index],
                    $"{b.InWidth}->{b.OutWidth} /{b.Stride} @{b.InputSize}", space.Reason(b.Index))).ToArray());
            if (parse.GetValue(json))
            {
                cli.WriteJson(report);
                return 0;
            }
            var table = new Table().AddColumns("block", "stage", "vital", "shape", "why");
            foreach (var b in report.Blocks)
                table.AddRow($"{b.Block}", $"{b.Stage}", b.Vital ? "[bold]vital[/]" : "", b.Shape,
                    Markup.Escape(b.Reason));
            cli.Console.Write(table);
            cli.Console.MarkupLine(
                $"preset [bold]{report.Preset}[/]: vital blocks [bold]{string.Join(", ", report.VitalBlocks)}[/] " +
                $"({report.VitalBlocks.Count} of {report.Blocks.Count}); {report.Paths:N0} input-to-output paths");
            return 0;
        }));
        return command;
    }
}
