namespace HourNas.SearchSpace;

/// <summary>Architectures encoded as one choice index per block.</summary>
public static class Choices
{
    /// <summary>
    /// Every combination of one option per block, the first block varying fastest (for small spaces).
    /// </summary>
    public static IEnumerable<int[]> All(IReadOnlyList<int> optionCounts)
    {
        var choice = new int[optionCounts.Count];
        while (true)
        {
            yield return (int[])choice.Clone();
            var b = 0;
            while (b < choice.Length && ++choice[b] == optionCounts[b]) choice[b++] = 0;
            if (b == choice.Length) yield break;
        }
    }
}
