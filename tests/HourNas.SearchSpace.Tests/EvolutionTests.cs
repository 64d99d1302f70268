using HourNas.SearchSpace;

namespace HourNas.SearchSpace.Tests;

public class EvolutionTests
{
    // A synthetic search: 15 blocks with 10 options; option i of block b "costs" (b % 4 + 1) * i; the constraint is
    // a cost budget; fitness is minus the squared distance to a known target that satisfies the constraint.
    private const int Blocks = 15, Options = 10;
    private static readonly int[] Target = Enumerable.Range(0, Blocks).Select(b => (b * 7 + 3) % Options).ToArray();
    private static readonly int[] Counts = Enumerable.Repeat(Options, Blocks).ToArray();
    private static long Cost(int[] c) => c.Select((x, b) => (long)(b % 4 + 1) * x).Sum();
    private static readonly long Limit = Cost(Target) + 5;
    private static bool Within(int[] c) => Cost(c) <= Limit;
    private static double Fitness(int[] c) => -c.Select((x, b) => Math.Pow(x - Target[b], 2)).Sum();

    private static int[] RandomWithin(Rng rng)
    {
        while (true)
        {
            var c = Counts.Select(n => rng.NextInt(n)).ToArray();
            if (Within(c)) return c;
        }
    }

    /// <summary>
    /// Single Path One-Shot's sizes: the behaviours below hold for them, whatever the pipeline's defaults.
    /// </summary>
    private static readonly EvolutionSettings Spos =
        new(Population: 50, Generations: 20, Parents: 10, Mutations: 25, Crossovers: 25);

    private static EvolutionResult Evolve(ulong seed, EvolutionSettings? settings = null) =>
        new EvolutionarySearch(Counts, Within, settings ?? Spos)
            .Run(Fitness, RandomWithin, new Rng(seed));

    [Fact]
    public void Beats_random_sampling_at_the_same_evaluation_count()
    {
        var evolved = new List<double>();
        var random = new List<double>();
        for (ulong seed = 1; seed <= 5; seed++)
        {
            var result = Evolve(seed);
            evolved.Add(result.Best.Fitness);
            var rng = new Rng(seed + 1000);
            random.Add(Enumerable.Range(0, result.Evaluations).Select(_ => Fitness(RandomWithin(rng))).Max());
        }
        Assert.True(evolved.Average() > random.Average(),
            $"evolution {evolved.Average():F1} vs random {random.Average():F1}");
        Assert.All(evolved.Zip(random),
            p => Assert.True(p.First >= p.Second, $"evolution {p.First} < random {p.Second}"));
    }

    [Fact]
    public void Reaches_the_known_optimum_with_enough_generations()
    {
        var result = Evolve(7, Spos with { Generations = 60 });
        Assert.Equal(0, result.Best.Fitness);
        Assert.Equal(Target, result.Best.Choice);
    }

    [Fact]
    public void Every_evaluated_candidate_satisfies_the_constraint_and_is_distinct()
    {
        var result = Evolve(3);
        Assert.All(result.History, e => Assert.True(Within(e.Choice)));
        Assert.Equal(result.History.Count, result.History.Select(e => string.Join(',', e.Choice)).Distinct().Count());
        Assert.InRange(result.Evaluations, 1, Spos.MaxEvaluations);
    }

    [Fact]
    public void Is_deterministic_for_a_seed()
    {
        var a = Evolve(21);
        var b = Evolve(21);
        Assert.Equal(a.History.Select(e => e.Choice), b.History.Select(e => e.Choice));
        Assert.NotEqual(a.History.Select(e => e.Choice), Evolve(22).History.Select(e => e.Choice));
    }

    [Fact]
    public void Bad_settings_are_rejected()
    {
        Assert.Throws<SearchSpaceException>(() => new EvolutionSettings(Population: 5, Parents: 10).Validate());
        Assert.Throws<SearchSpaceException>(() => new EvolutionSettings(MutationProbability: 0).Validate());
    }
}
