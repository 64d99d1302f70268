using HourNas.Contracts;
using HourNas.ServiceDefaults;
using HourNas.Workers;

// The Retraining service: RetrainArchitecture -> ArchitectureRetrained (with the block ablation).
var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults().AddPipelineBus(bus => bus.AddStageConsumers(PipelineStages.Retrain));
var app = builder.Build();
app.MapDefaultEndpoints();
app.Run();
