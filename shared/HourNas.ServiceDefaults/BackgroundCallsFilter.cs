using System.Diagnostics;
using OpenTelemetry;

namespace HourNas.ServiceDefaults;

/// <summary>
/// Keeps a tracing dashboard about experiments: an Orleans call that starts a trace of its own (a membership-table
/// read, a timer, a client polling an experiment's state) is not recorded, and neither is the other side of that
/// call, which sees an unsampled parent. Orleans calls inside a trace (an experiment's, an HTTP request's) are kept.
/// A sampler cannot do this: it is not told which source an activity comes from.
/// </summary>
public sealed class BackgroundCallsFilter : BaseProcessor<Activity>
{
    public override void OnStart(Activity activity)
    {
        if (activity.Parent is null && activity.ParentSpanId == default
            && activity.Source.Name.StartsWith("Microsoft.Orleans", StringComparison.Ordinal))
        {
            // Exporters skip activities that are not recorded.
            activity.ActivityTraceFlags &= ~ActivityTraceFlags.Recorded;
        }
    }
}
