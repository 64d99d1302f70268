using HourNas.Contracts;
using HourNas.ServiceDefaults;
using HourNas.Workers;

// The SpaceShrinking service: ShrinkSearchSpace -> SearchSpaceShrunk.
var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults().AddPipelineBus(bus => bus.AddStageConsumers(PipelineStages.Shrink));
var app = builder.Build();
app.MapDefaultEndpoints();
app.Run();
