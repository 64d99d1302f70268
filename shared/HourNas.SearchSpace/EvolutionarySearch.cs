namespace HourNas.SearchSpace;

/// <summary>
/// Settings of the evolutionary search. The defaults are the pipeline's (the one place they are declared: the
/// engine, the spec resolution and the CLI help read them), sized for CPU-bound supernet scoring; Single Path
/// One-Shot's search used population 50, 20 generations, 10 parents and 25 mutations and crossovers.
/// </summary>
public sealed record EvolutionSettings(
    int Population = 20,
    int Generations = 5,
    int Parents = 5,
    int Mutations = 10,
    int Crossovers = 10,
    double MutationProbability = 0.1,
    int MaxTriesPerChild = 200)
{
    public EvolutionSettings Validate()
    {
        if (Population < 1)
            throw new SearchSpaceException($"evolution population must be at least 1, got {Population}");
        if (Generations < 0)
            throw new SearchSpaceException($"evolution generations must be at least 0, got {Generations}");
        if (Parents < 1 || Parents > Population)
            throw new SearchSpaceException($"evolution parents must be in [1, population={Population}], got {Parents}");
        if (Mutations < 0 || Crossovers < 0)
            throw new SearchSpaceException("evolution mutation and crossover counts must not be negative");
        if (!(MutationProbability is > 0 and <= 1))
            throw new SearchSpaceException($"mutation probability must be in (0, 1], got {MutationProbability}");
        return this;
    }

    /// <summary>
    /// Upper bound on fitness evaluations (duplicates are evaluated once, so real counts can be lower).
    /// </summary>
    public int MaxEvaluations => Population + Generations * (Mutations + Crossovers);
}

/// <summary>One evaluated candidate: its choice indices, fitness, and the generation that produced it.</summary>
public sealed record Evaluated(int[] Choice, double Fitness, int Generation);

public sealed record EvolutionResult(Evaluated Best, IReadOnlyList<Evaluated> History)
{
    public int Evaluations => History.Count;
}

/// <summary>
/// Evolutionary search over architectures encoded as one choice index per block (option counts per block).
/// Generic over the fitness function and the constraint: every candidate it evaluates satisfies the
/// constraint. Top-k parent selection, per-gene mutation, uniform crossover; each distinct candidate is
/// evaluated once. Deterministic for a seed.
/// </summary>
public sealed class EvolutionarySearch(
    IReadOnlyList<int> optionCounts, Func<int[], bool> constraint, EvolutionSettings settings)
{
    private readonly EvolutionSettings _settings = settings.Validate();

    /// <summary>
    /// Runs the search. <paramref name="initial"/> draws one constrained candidate (e.g. a proposal sampler).
    /// </summary>
    public EvolutionResult Run(Func<int[], double> fitness, Func<Rng, int[]> initial, Rng rng,
        Action<int, Evaluated>? onGeneration = null, CancellationToken cancellation = default)
    {
        var seen = new Dictionary<string, Evaluated>();
        var history = new List<Evaluated>();

        Evaluated? Evaluate(int[] choice, int generation)
        {
            var key = string.Join(',', choice);
            if (seen.ContainsKey(key)) return null;
            cancellation.ThrowIfCancellationRequested();
            var e = new Evaluated(choice, fitness(choice), generation);
            seen[key] = e;
            history.Add(e);
            return e;
        }

        var population = new List<Evaluated>();
        for (var tries = 0; population.Count < _settings.Population
            && tries < _settings.Population * _settings.MaxTriesPerChild; tries++)
        {
            var choice = initial(rng);
            if (!constraint(choice))
                throw new SearchSpaceException("the initial sampler produced a candidate that breaks the constraint");
            if (Evaluate(choice, 0) is { } e) population.Add(e);
        }
        if (population.Count == 0)
            throw new SearchSpaceException("evolution: the initial sampler produced no candidate");
        onGeneration?.Invoke(0, Best(history));

        for (var g = 1; g <= _settings.Generations; g++)
        {
            var parents = population.OrderByDescending(p => p.Fitness).Take(_settings.Parents).ToArray();
            var children = new List<Evaluated>();
            for (var i = 0; i < _settings.Mutations; i++)
                if (Child(() => Mutate(parents[rng.NextInt(parents.Length)].Choice, rng), seen) is { } c
                    && Evaluate(c, g) is { } e)
                    children.Add(e);
            for (var i = 0; i < _settings.Crossovers && parents.Length > 1; i++)
                if (Child(() => Crossover(parents[rng.NextInt(parents.Length)].Choice,
                        parents[rng.NextInt(parents.Length)].Choice, rng), seen) is { } c
                    && Evaluate(c, g) is { } e)
                    children.Add(e);
            // Next population: the best of parents and children (elitist), as many as the population size.
            population = parents.Concat(children).Concat(population)
                .DistinctBy(p => string.Join(',', p.Choice))
                .OrderByDescending(p => p.Fitness)
                .Take(_settings.Population)
                .ToList();
            onGeneration?.Invoke(g, Best(history));
        }
        return new EvolutionResult(Best(history), history);
    }

    private static Evaluated Best(List<Evaluated> history) => history.MaxBy(e => e.Fitness)!;

    /// <summary>A new constrained child not seen before, or null when the tries run out.</summary>
    private int[]? Child(Func<int[]> make, Dictionary<string, Evaluated> seen)
    {
        for (var t = 0; t < _settings.MaxTriesPerChild; t++)
        {
            var c = make();
            if (constraint(c) && !seen.ContainsKey(string.Join(',', c))) return c;
        }
        return null;
    }

    private int[] Mutate(int[] parent, Rng rng)
    {
        var child = (int[])parent.Clone();
        for (var b = 0; b < child.Length; b++)
            if (optionCounts[b] > 1 && rng.NextDouble() < _settings.MutationProbability)
                child[b] = rng.NextInt(optionCounts[b]);
        return child;
    }

    private static int[] Crossover(int[] a, int[] b, Rng rng)
    {
        var child = new int[a.Length];
        for (var i = 0; i < child.Length; i++) child[i] = rng.NextDouble() < 0.5 ? a[i] : b[i];
        return child;
    }
}
