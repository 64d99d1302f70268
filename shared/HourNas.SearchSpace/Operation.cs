using System.Globalization;
using System.Text.RegularExpressions;

namespace HourNas.SearchSpace;

/// <summary>
/// One candidate operation for a block: an MBConv with depthwise kernel <see cref="Kernel"/> and
/// expansion ratio <see cref="Expansion"/>, or <see cref="Skip"/> (identity, only on non-vital blocks).
/// Text form: <c>k3e6</c>, <c>skip</c>.
/// </summary>
public readonly partial record struct Operation(int Kernel, int Expansion)
{
    public static Operation Skip { get; } = new(0, 0);

    public bool IsSkip => Kernel == 0;

    public override string ToString() => IsSkip ? "skip" : $"k{Kernel}e{Expansion}";

    public static Operation Parse(string text)
    {
        if (TryParse(text, out var op)) return op;
        throw new SearchSpaceException(
            $"unknown operation '{text}': expected 'skip' or 'k<kernel>e<expansion>' with an odd kernel, e.g. 'k3e6'");
    }

    public static bool TryParse(string text, out Operation op)
    {
        op = default;
        var t = text.Trim().ToLowerInvariant();
        if (t == "skip") { op = Skip; return true; }
        var m = MbConvPattern().Match(t);
        if (!m.Success) return false;
        var k = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        var e = int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
        if (k < 1 || k % 2 == 0 || e < 1) return false;
        op = new Operation(k, e);
        return true;
    }

    [GeneratedRegex(@"^k(\d{1,2})e(\d{1,2})$")]
    private static partial Regex MbConvPattern();
}
