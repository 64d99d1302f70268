using System.Globalization;
using System.Text.Json;
using HourNas.Cli;
using HourNas.Contracts;
using HourNas.Coordination;
using HourNas.Experiments;
using HourNas.Pipeline;
using HourNas.SearchSpace;

namespace HourNas.Pipeline.Tests;

/// <summary>
/// <c>hournas run --budgets-mflops</c> on a tiny fashion-mnist recipe (the preset with a hand-designed reference
/// network): a family of two, and its first member's budget run alone as the twin that says what was shared.
/// </summary>
public sealed class FamilyScenario : IDisposable
{
    public static readonly double[] Budgets = [1.2, 2.4];

    private static readonly string[] Recipe =
    [
        "--preset", "fashion-mnist", "--train-limit", "3000", "--search-epochs", "1", "--retrain-epochs", "1",
        "--batch-size", "64", "--population", "6", "--generations", "2", "--no-ablation",
    ];

    public FamilyScenario()
    {
        Family = Run("family", "--budgets-mflops", "2.4, 1.2");
        Alone = Run("alone", "--budget-mflops", "1.2");
    }

    public TempFolder Folder { get; } = new();

    public (int Exit, string Error, ExperimentState State) Family { get; }

    public (int Exit, string Error, ExperimentState State) Alone { get; }

    public ArtifactStore Store => new(Folder.Path);

    private (int, string, ExperimentState) Run(string id, params string[] budget)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = HournasCli.Run(["run", .. Recipe, .. budget, "--out", Folder.Path, "--id", id, "--json"],
            output, error);
        var state = exit == 0 || output.ToString().Length > 0
            ? JsonSerializer.Deserialize<ExperimentState>(output.ToString(), PipelineJson.Options)!
            : new ExperimentState { Id = id, FailureReason = error.ToString() };
        return (exit, error.ToString(), state);
    }

    public void Dispose() => Folder.Dispose();
}

public sealed class FamilyRunTests(FamilyScenario scenario) : IClassFixture<FamilyScenario>
{
    private ExperimentState Family
    {
        get
        {
            Assert.True(scenario.Family.Exit == 0, scenario.Family.Error);
            return scenario.Family.State;
        }
    }

    [Fact]
    public void Every_member_is_retrained_inside_its_own_window_beside_the_hand_designed_reference()
    {
        var result = Family.Result!;
        Assert.Equal(scenario.Family.State.Spec!.BudgetsMFlops!, FamilyScenario.Budgets);
        var members = result.Members.Where(m => m.BudgetMFlops is not null).ToArray();
        Assert.Equal(FamilyScenario.Budgets, members.Select(m => m.BudgetMFlops!.Value));
        Assert.All(members, m => Assert.InRange(m.MFlops, 0.9 * m.BudgetMFlops!.Value, m.BudgetMFlops.Value));
        Assert.All(members, m => Assert.InRange(m.Top1, 0.2, 1.0));  // each one learned, from 10% at chance
        Assert.NotEqual(members[0].Genotype, members[1].Genotype);
        // The fields of a lone experiment describe the first member.
        Assert.Equal((members[0].Genotype, members[0].Top1), (result.Genotype, result.Top1));
        var reference = Assert.Single(result.Members, m => m.BudgetMFlops is null);
        var manual = Presets.Genotypes.Single(g => g.Name == "manual" && g.Preset == "fashion-mnist");
        Assert.Equal((manual.Name, manual.Text), (reference.Name, reference.Genotype));
        // Stage 2's evolutions: every candidate a member scored lies in that member's window.
        var stage2 = scenario.Store.StageFolder(Family.Id, PipelineStages.NonVitalSearch);
        for (var m = 0; m < members.Length; m++)
        {
            var lines = File.ReadAllLines(Path.Combine(stage2, $"member-{m + 1}", "candidates.csv")).Skip(1).ToArray();
            Assert.NotEmpty(lines);
            Assert.All(lines, line => Assert.InRange(double.Parse(line.Split(',')[2], CultureInfo.InvariantCulture),
                0.9 * FamilyScenario.Budgets[m] - 1e-4, FamilyScenario.Budgets[m] + 1e-4));
        }
    }

    [Fact]
    public void The_budget_independent_training_is_done_once()
    {
        var alone = scenario.Alone;
        Assert.True(alone.Exit == 0, alone.Error);
        double Images(ExperimentState s, string stage) => s.Stage(stage)!.Metrics[StageMetrics.TrainImages];
        // Both supernets train as many images for the family as for one budget.
        Assert.Equal(Images(alone.State, PipelineStages.VitalSearch), Images(Family, PipelineStages.VitalSearch));
        Assert.Equal(Images(alone.State, PipelineStages.NonVitalSearch),
            Images(Family, PipelineStages.NonVitalSearch));
        // Stage 1 is the lone run's training exactly: the first member picks the lone run's vital operations.
        Assert.Equal(alone.State.VitalOperations, Family.MemberVitalOperations![0]);
        Assert.Equal(2, Family.MemberVitalOperations.Count);
        Assert.Equal(2, Family.MemberGenotypes!.Count);
        Assert.Equal(1, Family.Stages.Count(s => s.Stage == PipelineStages.NonVitalSearch));
    }

    [Fact]
    public void The_report_holds_the_pareto_table_and_plot_and_each_network_s_files()
    {
        var folder = scenario.Store.ExperimentFolder(Family.Id);
        var csv = File.ReadAllLines(Path.Combine(folder, "pareto.csv"));
        Assert.Equal("name,budget_mflops,mflops,params,top1,top5,latency_ms,on_front,genotype", csv[0]);
        Assert.Equal(["member-1", "member-2", "manual"], csv.Skip(1).Select(l => l.Split(',')[0]));
        var networks = Family.Result!.Members;
        var front = Coordination.Reports.FamilyReport.OnFront(networks);
        Assert.Equal(front.Select(f => f.ToString()), csv.Skip(1).Select(l => l.Split(',')[7]));
        Assert.True(new FileInfo(Path.Combine(folder, "pareto.png")).Length > 1000);
        foreach (var network in new[] { "member-1", "member-2", "manual" })
            Assert.True(File.Exists(Path.Combine(folder, network, "weights.pth")), network);
        var page = ExperimentPages.ExperimentPage(Family, scenario.Store, DateTimeOffset.UtcNow);
        Assert.Contains("<h2>Family</h2>", page);
        Assert.Contains(networks[1].Genotype, page);
    }

    [Fact]
    public void A_network_on_the_front_is_dominated_by_no_other()
    {
        MemberRetrained N(string name, double mflops, double top1) => new(name, 1, "g", mflops, 1, top1, 1, 1);
        var networks = new[] { N("a", 1, 0.80), N("b", 2, 0.85), N("c", 2, 0.84), N("d", 3, 0.85), N("e", 1, 0.80) };
        Assert.Equal([true, true, false, false, true],
            Coordination.Reports.FamilyReport.OnFront(networks));
    }
}
