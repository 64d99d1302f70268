using HourNas.Engine.Stages;
using HourNas.Engine.Training;
using HourNas.SearchSpace;

namespace HourNas.Engine.Tests;

/// <summary>
/// Stage 2's re-ranking: the evolution's best few candidates fine-tuned alone and scored again, the pick the best
/// fine-tuned one; without it, the pick is the best inherited score.
/// </summary>
[Collection(FashionMnistCollection.Name)]
public class RerankTests(FashionMnistFixture fx)
{
    private static readonly SearchSettings TinySearch = new(
        Epochs: 1, ValidationImages: 200, BatchNormBatches: 2,
        Evolution: new EvolutionSettings(Population: 6, Generations: 1, Parents: 2, Mutations: 3, Crossovers: 3));

    private static readonly Budget Window = Budget.FromMFlops(2.5);

    [Fact]
    public void The_pick_is_the_best_fine_tuned_of_the_best_inherited_candidates()
    {
        using var dir = new TempFolder();
        var progress = new List<Progress>();
        StageContext Context(string name) => new(fx.Device, fx.Data, dir.File(name), 3, FashionMnistFixture.Tiny(),
            trainLimit: 640, progress: p => { lock (progress) progress.Add(p); });
        var s1 = HourNasStages.SearchVitalBlocks(Context("s1"), fx.Space, Window, TinySearch);
        var vital = Presets.ResolveVitalChoices(fx.Space, s1.VitalOperations);

        var plain = HourNasStages.SearchNonVitalBlocks(Context("plain"), fx.Space, Window, vital, s1.SupernetWeights,
            TinySearch);
        Assert.All(plain.Evaluated, e => Assert.Null(e.FineTuned));
        // The pick is the candidate of least validation loss (the default ranking), reported with its top-1.
        Assert.All(plain.Evaluated, e => Assert.InRange(e.Loss!.Value, 0.0, 10.0));
        var leastLoss = plain.Evaluated.MinBy(e => e.Loss)!;
        Assert.Equal(leastLoss.Genotype, plain.Genotype);
        Assert.Equal(leastLoss.Accuracy, plain.ValidationAccuracy);
        Assert.DoesNotContain(progress, p => p.Phase == "rerank");
        var byTop1 = HourNasStages.SearchNonVitalBlocks(Context("top1"), fx.Space, Window, vital, s1.SupernetWeights,
            TinySearch with { RankBy = CandidateRanking.Top1 });
        Assert.Equal(byTop1.Evaluated.MaxBy(e => e.Accuracy)!.Genotype, byTop1.Genotype);

        var reranked = HourNasStages.SearchNonVitalBlocks(Context("reranked"), fx.Space, Window, vital,
            s1.SupernetWeights, TinySearch with { Rerank = 2 });
        // The same seed, so the same supernet and the same evolution: only the pick may differ.
        Assert.Equal(plain.Evaluated.Select(e => (e.Genotype, e.Accuracy)),
            reranked.Evaluated.Select(e => (e.Genotype, e.Accuracy)));
        var tuned = reranked.Evaluated.Where(e => e.FineTuned is not null).ToArray();
        var bestTwo = plain.Evaluated.DistinctBy(e => e.Genotype).OrderBy(e => e.Loss).Take(2)
            .Select(e => e.Genotype);
        Assert.Equal(bestTwo.Order(), tuned.Select(e => e.Genotype).Order());
        var pick = tuned.MaxBy(e => e.FineTuned)!;
        Assert.Equal(pick.Genotype, reranked.Genotype);
        Assert.Equal(pick.Accuracy, reranked.ValidationAccuracy);
        Assert.All(tuned, e => Assert.InRange(e.FineTuned!.Value, 0, 1));
        Assert.Equal([1, 2], progress.Where(p => p.Phase == "rerank").Select(p => p.Step));

        var csv = File.ReadAllLines(dir.File("reranked/candidates.csv"));
        Assert.EndsWith(",fine_tuned", csv[0]);
        Assert.Equal(2, csv.Skip(1).Count(line => !line.EndsWith(',')));
    }
}
