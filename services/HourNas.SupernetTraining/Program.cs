using HourNas.Contracts;
using HourNas.ServiceDefaults;
using HourNas.Workers;

// The SupernetTraining service (a GPU worker in a cluster): SearchVitalBlocks -> VitalBlocksSearched,
// SearchNonVitalBlocks -> ArchitectureSearched.
var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults()
    .AddPipelineBus(bus => bus.AddStageConsumers(PipelineStages.VitalSearch, PipelineStages.NonVitalSearch));
var app = builder.Build();
app.MapDefaultEndpoints();
app.Run();
