using System.CommandLine;
using HourNas.SearchSpace;
using Spectre.Console;

namespace HourNas.Cli;

internal static class CostCommand
{
    public sealed record Part(
        string Name, int? Block, int? Stage, string? Operation, bool? Vital, string? Shape, double MFlops, long Params);

    public sealed record Report(
        string Preset, string Genotype, double MFlops, long Macs, long Params, IReadOnlyList<Part> Parts);

    public static Command Create(HournasCli cli)
    {
        var preset = HournasCli.Options.Preset(required: false);
        var genotype = new Option<string>("--genotype", "-g")
        {
            Description = "a named genotype (see 'hournas presets'), a genotype .json file, " +
                "or the text form 'k3e1 | k5e6 ...'",
            Required = true,
        };
        var json = HournasCli.Options.Json();
        var command = new Command("cost", "FLOPs (multiply-adds) and parameters of a genotype, in total and per block")
        {
            preset, genotype, json,
        };
        command.SetAction(parse => cli.Guard(() =>
        {
            var report = Build(parse.GetValue(preset), parse.GetValue(genotype)!);
            if (parse.GetValue(json))
            {
                cli.WriteJson(report);
                return 0;
            }
            var table = new Table().AddColumns("part", "stage", "op", "vital", "shape", "MFLOPs", "params");
            foreach (var p in report.Parts)
                table.AddRow(p.Name, p.Stage?.ToString() ?? "", p.Operation ?? "", p.Vital is true ? "vital" : "",
                    p.Shape ?? "", $"{p.MFlops:F2}", $"{p.Params:N0}");
            table.AddRow("total", "", "", "", "", $"{report.MFlops:F2}", $"{report.Params:N0}");
            cli.Console.MarkupLine($"preset [bold]{report.Preset}[/], genotype {Markup.Escape(report.Genotype)}");
            cli.Console.Write(table);
            cli.Console.MarkupLine($"total: [bold]{report.MFlops:F2} MFLOPs[/] ({report.Macs:N0} multiply-adds), " +
                $"[bold]{report.Params / 1e6:F3} M params[/] ({report.Params:N0})");
            return 0;
        }));
        return command;
    }

    internal static Report Build(string? preset, string genotypeSpec)
    {
        var (space, genotype) = Presets.Resolve(preset, genotypeSpec);
        var cost = space.Costs.Of(genotype);
        var s = space.Skeleton;
        var parts = new List<Part>
        {
            new("stem", null, null, null, null,
                $"{s.InputChannels}->{s.Stem.Width} conv3x3/{s.Stem.Stride} @{s.InputSize}",
                cost.Stem.MFlops, cost.Stem.Params),
        };
        parts.AddRange(space.Blocks.Select(b => new Part($"block {b.Index}", b.Index, b.Stage + 1,
            genotype.Blocks[b.Index].ToString(), space.IsVital[b.Index],
            $"{b.InWidth}->{b.OutWidth} /{b.Stride} @{b.InputSize}", cost.Blocks[b.Index].MFlops,
            cost.Blocks[b.Index].Params)));
        parts.Add(new("head", null, null, null, null, $"{s.FinalWidth}->{s.HeadWidth} conv1x1", cost.Head.MFlops,
            cost.Head.Params));
        parts.Add(new("classifier", null, null, null, null, $"{s.HeadWidth}->{s.Classes} fc", cost.Classifier.MFlops,
            cost.Classifier.Params));
        var total = cost.Total;
        return new Report(s.Name, genotype.ToString(), total.MFlops, total.Macs, total.Params, parts);
    }
}
