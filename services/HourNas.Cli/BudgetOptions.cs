using System.CommandLine;
using HourNas.SearchSpace;

namespace HourNas.Cli;

/// <summary>
/// The budget options every command that searches shares: FLOPs, parameters and latency, alone or together, the
/// window's lower fraction and the latency table a latency budget needs.
/// </summary>
internal sealed class BudgetOptions
{
    public BudgetOptions(string flopsDescription, bool fractionDefault)
    {
        Flops = new Option<double?>("--budget-mflops", "-b") { Description = flopsDescription };
        MinFraction = new Option<double?>("--min-fraction")
        {
            Description = "lower end of the window as a fraction of the primary budget (FLOPs when given, else " +
                $"latency, else parameters; default {Budget.DefaultMinFraction})",
        };
        _fractionDefault = fractionDefault;
    }

    private readonly bool _fractionDefault;

    public Option<double?> Flops { get; }

    public Option<double?> MParams { get; } = new("--budget-mparams")
    {
        Description = "at most this many millions of parameters",
    };

    public Option<double?> Milliseconds { get; } = new("--budget-ms")
    {
        Description = "at most this latency per image in milliseconds, predicted from --latency-table",
    };

    public Option<string?> LatencyTable { get; } = new("--latency-table")
    {
        Description = "a latency table of the preset (hournas latency-table), needed by --budget-ms",
    };

    public Option<double?> MinFraction { get; }

    public IEnumerable<Option> All => [Flops, MParams, Milliseconds, LatencyTable, MinFraction];

    public void AddTo(Command command)
    {
        foreach (var option in All) command.Options.Add(option);
    }

    public bool Given(ParseResult parse) => parse.GetValue(Flops) is not null
        || parse.GetValue(MParams) is not null || parse.GetValue(Milliseconds) is not null;

    /// <summary>The window's lower fraction: given, else the default (null when the caller has its own).</summary>
    public double? Fraction(ParseResult parse) =>
        parse.GetValue(MinFraction) ?? (_fractionDefault ? Budget.DefaultMinFraction : null);

    /// <summary>The budget the options give, or null when none is given.</summary>
    public Budget? Read(ParseResult parse) => Given(parse)
        ? Budget.Of(parse.GetValue(Flops), parse.GetValue(MParams), parse.GetValue(Milliseconds),
            Fraction(parse) ?? Budget.DefaultMinFraction)
        : null;

    /// <summary>
    /// The space with the latency table behind its cost model when one is given (read here, on the client);
    /// a latency budget without a table is an error naming the option.
    /// </summary>
    public ArchitectureSpace Space(ParseResult parse, ArchitectureSpace space, string? device = null)
    {
        var path = parse.GetValue(LatencyTable);
        if (path is null)
        {
            if (parse.GetValue(Milliseconds) is not null)
                throw new SearchSpaceException(
                    "--budget-ms needs --latency-table FILE (made by hournas latency-table)");
            return space;
        }
        var table = SearchSpace.LatencyTable.Load(path).Check(space, device);
        return space.WithLatencies(table);
    }

    /// <summary>The latency table's JSON for a spec, or null.</summary>
    public string? TableJson(ParseResult parse) =>
        parse.GetValue(LatencyTable) is { } path ? SearchSpace.LatencyTable.Load(path).ToJson() : null;
}
