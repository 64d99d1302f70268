using System.Globalization;
using System.Net;
using System.Text;
using HourNas.Contracts;
using HourNas.Coordination.Reports;
using HourNas.Experiments;
using HourNas.Pipeline;
using HourNas.ServiceDefaults;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace HourNas.Coordination;

/// <summary>
/// The coordinator's web pages, for people: <c>/ui</c> lists the experiments, <c>/ui/experiments/{id}</c> shows one
/// (stage timeline, training curves, accuracy vs FLOPs, ablation, final genotype, artifacts). Rendered on the server
/// from the experiment's state on each request, with the report's plots drawn live; a page of an unfinished
/// experiment reloads itself every 5 s.
/// </summary>
public static class ExperimentPages
{
    public static IEndpointRouteBuilder MapExperimentPages(this IEndpointRouteBuilder app)
    {
        // Pages for people: not part of the API's description.
        var pages = app.MapGroup("").ExcludeFromDescription();
        pages.MapGet("/ui", async (ExperimentService experiments) => Html(ListPage(await experiments.List())));
        pages.MapGet("/ui/compare", async (HttpRequest request, ExperimentService experiments) =>
        {
            var ids = CompareIds(request.Query["ids"]);
            if (ids.Count is 0 or > ExperimentComparison.MaxExperiments)
                return Html(Page("Compare experiments",
                    $"<p>Name 1 to {ExperimentComparison.MaxExperiments} experiments: " +
                    "<code>/ui/compare?ids=a,b</code>, or tick them on <a href=\"/ui\">the list</a>.</p>",
                    refresh: false), StatusCodes.Status400BadRequest);
            var states = new List<ExperimentState>();
            foreach (var id in ids)
            {
                ExperimentState? state;
                try
                {
                    state = await experiments.Get(id);
                }
                catch (ArgumentException e)
                {
                    return Html(Page("Bad experiment id", $"<p>{E(e.Message)}</p>", refresh: false),
                        StatusCodes.Status400BadRequest);
                }
                if (state is null)
                    return Html(Page("No such experiment", $"<p>No experiment '{E(id)}'.</p>", refresh: false),
                        StatusCodes.Status404NotFound);
                states.Add(state);
            }
            return Html(ComparePage(ExperimentComparison.Of(states)));
        });
        pages.MapGet("/ui/experiments/{id}", async (string id, ExperimentService experiments, ArtifactStore store) =>
        {
            ExperimentState? state;
            try
            {
                state = await experiments.Get(id);
            }
            catch (ArgumentException e)
            {
                return Html(
                    Page("Bad experiment id", $"<p>{E(e.Message)}</p>", refresh: false),
                    StatusCodes.Status400BadRequest);
            }
            return state is null
                ? Html(
                    Page(
                        "No such experiment",
                        $"<p>No experiment '{E(id)}'. <a href=\"/ui\">All experiments</a></p>",
                        refresh: false),
                    StatusCodes.Status404NotFound)
                : Html(ExperimentPage(state, store, DateTimeOffset.UtcNow));
        });
        return app;
    }

    /// <summary>Ids from <c>ids=a,b</c> or <c>ids=a&amp;ids=b</c> (the list page's form), each once.</summary>
    public static IReadOnlyList<string> CompareIds(IEnumerable<string?> values) =>
    [
        .. values.SelectMany(v => (v ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries |
            StringSplitOptions.TrimEntries)).Distinct(StringComparer.Ordinal),
    ];

    public static string ComparePage(ExperimentComparison comparison)
    {
        var body = new StringBuilder(
            "<p><a href=\"/ui\">All experiments</a></p>\n<h2>Results</h2>\n<table class=\"compare\">" +
            "<tr><th>experiment</th><th>preset</th><th>status</th><th>test top-1</th><th>top-5</th>" +
            "<th>MFLOPs</th><th>params</th><th>latency</th><th>search s</th><th>retrain s</th>" +
            "<th>genotype</th></tr>\n");
        foreach (var e in comparison.Experiments)
            body.Append(CultureInfo.InvariantCulture,
                $"<tr><td><a href=\"/ui/experiments/{Uri.EscapeDataString(e.Id)}\">{E(e.Id)}</a></td>" +
                $"<td>{E(e.Preset)}</td><td class=\"{e.Status}\">{e.Status}</td><td>{e.Top1:P2}</td>" +
                $"<td>{e.Top5:P2}</td><td>{e.MFlops:F2}</td><td>{e.Params:N0}</td>" +
                $"<td>{(e.LatencyMilliseconds is { } ms ? $"{ms:F2} ms" : "")}</td><td>{e.SearchSeconds:F0}</td>" +
                $"<td>{e.RetrainSeconds:F0}</td><td><code>{E(e.Genotype ?? "")}</code></td></tr>\n");
        body.Append("</table>\n<h2>Stage seconds</h2>\n<table><tr><th>experiment</th>");
        foreach (var stage in PipelineStages.Sequence) body.Append($"<th>{E(stage.Name)}</th>");
        body.Append("</tr>\n");
        foreach (var e in comparison.Experiments)
        {
            body.Append($"<tr><td>{E(e.Id)}</td>");
            foreach (var seconds in e.StageSeconds.Values)
                body.Append(CultureInfo.InvariantCulture, $"<td>{seconds:F1}</td>");
            body.Append("</tr>\n");
        }
        body.Append("</table>\n<h2>Spec differences</h2>\n");
        if (comparison.SpecDifferences.Count == 0)
            body.Append("<p>The specs are the same.</p>\n");
        else
        {
            body.Append("<table><tr><th>field</th>");
            foreach (var e in comparison.Experiments) body.Append($"<th>{E(e.Id)}</th>");
            body.Append("</tr>\n");
            foreach (var (field, values) in comparison.SpecDifferences)
                body.Append($"<tr><th>{E(field)}</th>")
                    .Append(string.Concat(values.Select(v => $"<td><code>{E(v ?? "(unset)")}</code></td>")))
                    .Append("</tr>\n");
            body.Append("</table>\n");
        }
        body.Append("<h2>Test top-1 against FLOPs</h2>\n").Append(Plots.Svg(comparison.AccuracyVsFlops()));
        return Page("Compare experiments", body.ToString(),
            refresh: comparison.Experiments.Any(e =>
                e.Status is ExperimentStatus.Submitted or ExperimentStatus.Running));
    }

    public static string ListPage(IReadOnlyList<ExperimentSummary> experiments)
    {
        var body = new StringBuilder(
            "<form action=\"/ui/compare\" method=\"get\">" +
            "<table><tr><th></th><th>experiment</th><th>preset</th><th>status</th><th>stage</th>" +
            "<th>submitted (UTC)</th><th>ended</th><th>test top-1</th></tr>\n");
        foreach (var e in experiments.OrderByDescending(e => e.SubmittedAt))
            body.Append(CultureInfo.InvariantCulture,
                $"<tr><td><input type=\"checkbox\" name=\"ids\" value=\"{E(e.Id)}\"></td>" +
                $"<td><a href=\"/ui/experiments/{Uri.EscapeDataString(e.Id)}\">{E(e.Id)}</a></td>" +
                $"<td>{E(e.Preset)}</td><td class=\"{e.Status}\">{e.Status}</td>" +
                $"<td>{E(e.CurrentStage ?? "")}</td><td>{e.SubmittedAt:yyyy-MM-dd HH:mm:ss}</td>" +
                $"<td>{e.EndedAt:HH:mm:ss}</td><td>{e.Top1:P2}</td></tr>\n");
        body.Append("</table>");
        if (experiments.Count > 1)
            body.Append("<p><button type=\"submit\">Compare the ticked experiments</button></p>");
        body.Append("</form>");
        if (experiments.Count == 0)
            body.Append("<p>No experiments yet: <code>hournas submit --preset smoke</code>.</p>");
        return Page(
            "HourNAS experiments",
            body.ToString(),
            refresh: experiments.Any(e => e.Status is ExperimentStatus.Submitted or ExperimentStatus.Running));
    }

    public static string ExperimentPage(ExperimentState s, ArtifactStore store, DateTimeOffset now)
    {
        var body = new StringBuilder();
        var spec = s.Spec!;
        body.Append(CultureInfo.InvariantCulture, $"""
            <p><a href="/ui">All experiments</a> · <a href="/experiments/{Uri.EscapeDataString(s.Id)}">JSON</a></p>
            <table class="facts">
            <tr><th>status</th><td class="{s.Status}">{s.Status}{(s.IsFinished
                ? ""
                : $" ({E(s.CurrentStage ?? "")})")}</td></tr>
            <tr><th>preset</th><td>{E(spec.Preset)}</td></tr>
            <tr><th>budget</th><td>{E(ExperimentSpecs.DescribeBudget(spec))}</td></tr>
            <tr><th>submitted</th><td>{s.SubmittedAt:yyyy-MM-dd HH:mm:ss} UTC</td></tr>
            <tr><th>ended</th><td>{(s.EndedAt is { } end
                ? $"{end:HH:mm:ss} UTC, after {(end - s.SubmittedAt).TotalSeconds:F0} s"
                : "running")}</td></tr>
            """);
        if (s.FailureReason is { } reason)
            body.Append($"<tr><th>reason</th><td class=\"Failed\">{E(reason)}</td></tr>");
        if (s.VitalBlocks is { } vital)
            body.Append($"<tr><th>vital blocks</th><td>{string.Join(' ', vital)}</td></tr>");
        if (s.ShrinkRatio is { } ratio)
            body.Append(CultureInfo.InvariantCulture, $"<tr><th>shrink ratio</th><td>{ratio:G4}</td></tr>");
        if (s.Result is { Members.Count: > 0 } family)
            body.Append(
                $"<tr><th>family</th><td>{family.Members.Count(m => m.BudgetMFlops is not null)} networks: " +
                "the table below</td></tr>");
        else if (s.Result is { } r)
        {
            var cost = string.Create(CultureInfo.InvariantCulture,
                $"{r.MFlops:F3} MFLOPs, {r.Params:N0} parameters, {r.LatencyMilliseconds:F2} ms latency at batch 1");
            body.Append(CultureInfo.InvariantCulture, $"""
                <tr><th>final genotype</th><td><code>{E(r.Genotype)}</code></td></tr>
                <tr><th>cost</th><td>{cost}</td></tr>
                <tr><th>test accuracy</th><td>top-1 {r.Top1:P2}, top-5 {r.Top5:P2}</td></tr>
                """);
        }
        else if (s.Genotype is { } genotype)
            body.Append($"<tr><th>searched genotype</th><td><code>{E(genotype)}</code></td></tr>");
        body.Append("</table>\n");
        if (s.Result is { Members.Count: > 0 } networks) body.Append(FamilySection(networks.Members));

        body.Append("<h2>Stages</h2>\n<table><tr><th>stage</th><th>status</th><th>attempt</th><th>starts</th>" +
            "<th>resumed from epoch</th><th>seconds</th><th>train images</th><th>eval images</th><th>workers</th>" +
            "<th>failures</th></tr>\n");
        foreach (var stage in s.Stages)
        {
            var seconds = stage.SecondsAt(now);
            body.Append(CultureInfo.InvariantCulture,
                $"<tr><td>{E(stage.Stage)}</td><td class=\"{stage.Status}\">{stage.Status}</td>" +
                $"<td>{stage.Attempt}</td><td>{stage.Starts}</td><td>{stage.ResumedFromEpoch}</td>" +
                $"<td>{seconds:F1}</td>" +
                $"<td>{stage.Metrics.GetValueOrDefault(StageMetrics.TrainImages):N0}</td>" +
                $"<td>{stage.Metrics.GetValueOrDefault(StageMetrics.EvalImages):N0}</td>" +
                $"<td>{E(string.Join(", ", stage.Workers))}</td>" +
                $"<td>{E(string.Join("; ", stage.Failures))}</td></tr>\n");
        }
        body.Append("</table>\n");
        if (s.Stages.Count > 0)
            body.Append(Plots.Svg(ExperimentReport.StageTimeline(s, now), height: 80 + 40 * s.Stages.Count));

        body.Append("<h2>Training curves</h2>\n");
        body.Append(s.Progress.Any(p => p.Phase == ProgressPhases.Train)
            ? Plots.Svg(ExperimentReport.TrainingCurves(s))
            : "<p>No training step reported yet.</p>");
        if (ExperimentReport.Candidates(store, s.Id) is { Count: > 0 } candidates)
            body.Append("<h2>Accuracy vs FLOPs</h2>\n")
                .Append(Plots.Svg(ExperimentReport.AccuracyVsFlops(candidates, s)));
        if (s.Result?.Ablation is { Count: > 0 } ablation)
            body.Append("<h2>Block ablation</h2>\n").Append(Plots.Svg(ExperimentReport.AblationBars(ablation)));

        var prefix = s.Id + "/";
        var files = store.List(s.Id);
        body.Append("<h2>Artifacts</h2>\n");
        body.Append(files.Count == 0 ? "<p>None yet.</p>" : "<ul>" + string.Concat(files.Select(f =>
        {
            var inExperiment = f.StartsWith(prefix, StringComparison.Ordinal) ? f[prefix.Length..] : f;
            var href = $"/experiments/{Uri.EscapeDataString(s.Id)}/artifacts/" +
                $"{string.Join('/', inExperiment.Split('/').Select(Uri.EscapeDataString))}";
            return $"<li><a href=\"{href}\">{E(inExperiment)}</a></li>";
        })) + "</ul>");
        return Page($"Experiment {s.Id}", body.ToString(), refresh: !s.IsFinished);
    }

    /// <summary>A family's networks: the Pareto table (front marked) and the top-1 against FLOPs plot.</summary>
    private static string FamilySection(IReadOnlyList<MemberRetrained> networks)
    {
        var front = FamilyReport.OnFront(networks);
        var body = new StringBuilder("<h2>Family</h2>\n<table><tr><th>network</th><th>budget</th><th>MFLOPs</th>" +
            "<th>parameters</th><th>test top-1</th><th>top-5</th><th>latency (ms)</th><th>on the front</th>" +
            "<th>genotype</th></tr>\n");
        for (var i = 0; i < networks.Count; i++)
        {
            var n = networks[i];
            body.Append(CultureInfo.InvariantCulture,
                $"<tr><td>{E(n.Name)}</td><td>{(n.BudgetMFlops is { } b ? $"{b:G} MFLOPs" : "reference")}</td>" +
                $"<td>{n.MFlops:F3}</td><td>{n.Params:N0}</td><td>{n.Top1:P2}</td><td>{n.Top5:P2}</td>" +
                $"<td>{n.LatencyMilliseconds:F2}</td><td>{(front[i] ? "yes" : "")}</td>" +
                $"<td><code>{E(n.Genotype)}</code></td></tr>\n");
        }
        return body.Append("</table>\n").Append(Plots.Svg(FamilyReport.Pareto(networks))).ToString();
    }

    private static string E(string text) => WebUtility.HtmlEncode(text);

    private static IResult Html(string html, int status = StatusCodes.Status200OK) =>
        Results.Content(html, "text/html; charset=utf-8", Encoding.UTF8, status);

    private static string Page(string title, string body, bool refresh) => $$"""
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>{{E(title)}} · HourNAS</title>
        {{(refresh ? "<meta http-equiv=\"refresh\" content=\"5\">" : "")}}
        <style>
        body { font-family: "DejaVu Sans", sans-serif; margin: 2em; max-width: 1000px; color: #222; }
        table { border-collapse: collapse; margin: 0.5em 0 1em; }
        th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.75em; text-align: left; vertical-align: top; }
        td { overflow-wrap: anywhere; }
        .compare td { white-space: nowrap; } .compare td code { white-space: normal; }
        .facts th { color: #555; font-weight: normal; }
        .Completed { color: #1a7f37; } .Running, .Submitted { color: #0b5cad; } .Failed, .Cancelled { color: #b42318; }
        svg { display: block; margin: 0.5em 0 1.5em; }
        </style></head>
        <body><h1>{{E(title)}}</h1>
        {{body}}
        </body></html>
        """;
}
