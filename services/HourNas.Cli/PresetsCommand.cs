using System.CommandLine;
using HourNas.SearchSpace;
using Spectre.Console;

namespace HourNas.Cli;

internal static class PresetsCommand
{
    public sealed record PresetInfo(string Name, string? Description, int InputSize, int InputChannels, int Classes,
        int Blocks, IReadOnlyList<int> VitalBlocks, string SpaceSize, double MinMFlops, double MaxMFlops);

    public sealed record GenotypeInfo(
        string Name, string Preset, string Genotype, double MFlops, long Params, string? Description);

    public sealed record Report(IReadOnlyList<PresetInfo> Presets, IReadOnlyList<GenotypeInfo> Genotypes);

    public static Command Create(HournasCli cli)
    {
        var json = HournasCli.Options.Json();
        var command = new Command("presets", "list the skeleton presets and the named genotypes") { json };
        command.SetAction(parse => cli.Guard(() =>
        {
            var report = Build();
            if (parse.GetValue(json))
            {
                cli.WriteJson(report);
                return 0;
            }
            var presets = new Table()
                .AddColumns("preset", "input", "classes", "blocks", "vital blocks", "architectures", "MFLOPs range");
            foreach (var p in report.Presets)
                presets.AddRow(p.Name, $"{p.InputSize}x{p.InputSize}x{p.InputChannels}", $"{p.Classes}", $"{p.Blocks}",
                    string.Join(' ', p.VitalBlocks), p.SpaceSize, $"{p.MinMFlops:F2} - {p.MaxMFlops:F2}");
            cli.Console.Write(presets);
            var genotypes = new Table().AddColumns("genotype", "preset", "MFLOPs", "params", "operations");
            foreach (var g in report.Genotypes)
                genotypes.AddRow(g.Name, g.Preset, $"{g.MFlops:F1}", $"{g.Params:N0}", Markup.Escape(g.Genotype));
            cli.Console.Write(genotypes);
            return 0;
        }));
        return command;
    }

    private static Report Build()
    {
        var presets = Presets.Skeletons.Select(s =>
        {
            var space = new ArchitectureSpace(s);
            var costs = space.Blocks
                .Select(b => space.Candidates[b.Index].Select(o => space.Costs.Block(b, o).Macs).ToArray())
                .ToArray();
            var fixedMacs = space.Costs.Fixed.Macs;
            return new PresetInfo(s.Name, s.Description, s.InputSize, s.InputChannels, s.Classes, space.Blocks.Count,
                space.VitalBlocks, space.Size.ToString(), (fixedMacs + costs.Sum(c => c.Min())) / 1e6,
                (fixedMacs + costs.Sum(c => c.Max())) / 1e6);
        }).ToArray();
        var genotypes = Presets.Genotypes.Select(n =>
        {
            var (space, g) = Presets.Resolve(n.Preset, n.Name);
            var total = space.Costs.Of(g).Total;
            return new GenotypeInfo(n.Name, n.Preset, g.ToString(), total.MFlops, total.Params, n.Description);
        }).ToArray();
        return new Report(presets, genotypes);
    }
}
