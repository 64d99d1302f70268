namespace HourNas.SearchSpace;

/// <summary>
/// Draws architectures (one choice index per block) from a factorized distribution and keeps only those
/// inside the budget window (rejection sampling). Counts every draw so the acceptance rate is known.
/// </summary>
public sealed class ArchitectureSampler(Proposal proposal)
{
    public const int DefaultMaxTries = 100_000;

    public Proposal Proposal { get; } = proposal;

    public long Draws { get; private set; }

    public long Accepted { get; private set; }

    public double AcceptanceRate => Draws == 0 ? double.NaN : (double)Accepted / Draws;

    /// <summary>One draw from the factorized distribution, with no budget check.</summary>
    public int[] Draw(Rng rng) => Draw(Proposal.Probabilities, rng);

    /// <summary>One draw from per-block probabilities; a block with one option consumes no randomness.</summary>
    public static int[] Draw(IReadOnlyList<double[]> probabilities, Rng rng)
    {
        var choice = new int[probabilities.Count];
        for (var b = 0; b < choice.Length; b++)
            choice[b] = probabilities[b].Length == 1 ? 0 : rng.NextIndex(probabilities[b]);
        return choice;
    }

    /// <summary>
    /// Draws until an architecture falls inside the window; throws if none does within <paramref name="maxTries"/>.
    /// </summary>
    public int[] Sample(Rng rng, int maxTries = DefaultMaxTries)
    {
        var space = Proposal.Space;
        for (var i = 0; i < maxTries; i++)
        {
            var choice = Draw(rng);
            Draws++;
            if (!space.InWindow(choice)) continue;
            Accepted++;
            return choice;
        }
        throw new SearchSpaceException(
            $"no architecture inside {space.Budget} in {maxTries} draws: the window is too narrow for this proposal");
    }

    /// <summary>
    /// Acceptance rate over <paramref name="draws"/> fresh draws (does not change this sampler's counters).
    /// </summary>
    public double MeasureAcceptance(Rng rng, int draws)
    {
        var space = Proposal.Space;
        var accepted = 0;
        for (var i = 0; i < draws; i++) if (space.InWindow(Draw(rng))) accepted++;
        return (double)accepted / draws;
    }
}
