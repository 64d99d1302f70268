using HourNas.Coordination;
using HourNas.ServiceDefaults;

// The coordinator: the Orleans silo with the experiment grains, the stage events, and the HTTP API.
var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults().AddExperimentSilo().AddPipelineBus(bus => bus.AddCoordinatorConsumers());
builder.Services.AddExperimentApi();
var app = builder.Build();
app.MapDefaultEndpoints();
app.MapExperimentApi();
app.Run();
