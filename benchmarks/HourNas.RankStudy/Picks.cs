using System.Globalization;
using System.Text;

namespace HourNas.RankStudy;

/// <summary>
/// What a search would pick with each supernet of a study: the in-window reference architecture it scores highest,
/// placed among the window's stand-alone accuracies. For a supernet also scored after fine-tuning (a variant
/// "X:ft=N" beside "X"), the pick of stage 2's re-ranking too: the best fine-tuned score among the K best inherited
/// ones. A random in-window pick gets the window's mean.
/// </summary>
public static class Picks
{
    private static readonly string[] ScoringKnobs = ["ft=", "ftlr=", "scratch="];

    public static string Markdown(StudyReport report, ReferenceTable table, IReadOnlyList<int> rerank)
    {
        var truth = table.Architectures.Select(a => a.MeanTop1).ToArray();
        var window = Enumerable.Range(0, truth.Length).Where(i => table.Architectures[i].InWindow).ToArray();
        var mean = window.Average(i => truth[i]);
        string Placed(int pick) => string.Create(CultureInfo.InvariantCulture,
            $"{truth[pick] * 100:F2}% ({1 + window.Count(i => truth[i] > truth[pick])} of {window.Length}, " +
            $"{(truth[pick] - mean) * 100:+0.00;-0.00} points)");
        int Best(IEnumerable<int> candidates, IReadOnlyList<double> score) => candidates.MaxBy(i => score[i]);

        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"In-window picks ({window.Length} architectures; a random pick gets their mean, {mean * 100:F2}%, the " +
            $"best is {window.Max(i => truth[i]) * 100:F2}%): stand-alone top-1 (rank, points over the mean).");
        sb.AppendLine();
        sb.AppendLine("| supernet | pick by inherited score | " +
            string.Join(" | ", rerank.Select(k => $"re-ranked top {k} by fine-tuning")) + " |");
        sb.AppendLine("|---|---|" + string.Concat(rerank.Select(_ => "---|")));
        var bySharing = report.Supernets.ToDictionary(s => s.Sharing);
        foreach (var s in report.Supernets.Where(s => !IsFineTuned(s.Sharing)))
        {
            var tuned = report.Supernets.FirstOrDefault(t => t.Sharing != s.Sharing && IsFineTuned(t.Sharing)
                && !t.Sharing.Contains("scratch=", StringComparison.Ordinal) && BaseOf(t.Sharing) == s.Sharing);
            var cells = rerank.Select(k => tuned is null ? "-"
                : Placed(Best(window.OrderByDescending(i => s.Predicted[i]).Take(k), tuned.Predicted)));
            sb.AppendLine($"| {s.Sharing} | {Placed(Best(window, s.Predicted))} | {string.Join(" | ", cells)} |");
        }
        return sb.ToString();
    }

    private static bool IsFineTuned(string sharing) =>
        sharing.Split(':').Any(p => ScoringKnobs.Any(k => p.StartsWith(k, StringComparison.Ordinal)));

    private static string BaseOf(string sharing) => string.Join(':',
        sharing.Split(':').Where(p => !ScoringKnobs.Any(k => p.StartsWith(k, StringComparison.Ordinal))));
}
