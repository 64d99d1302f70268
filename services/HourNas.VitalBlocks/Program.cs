using HourNas.Contracts;
using HourNas.ServiceDefaults;
using HourNas.Workers;

// The VitalBlocks service: AnalyzeVitalBlocks -> VitalBlocksAnalyzed.
var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults().AddPipelineBus(bus => bus.AddStageConsumers(PipelineStages.VitalBlocks));
var app = builder.Build();
app.MapDefaultEndpoints();
app.Run();
