using System.Text.Json;
using System.Text.Json.Serialization;
using HourNas.Contracts;
using Orleans.Serialization;

namespace HourNas.Experiments;

/// <summary>
/// Contracts stay free of Orleans attributes: grains receive them as JSON (NaN allowed: a loss before the first step).
/// Every silo and client of the experiment grains registers this.
/// </summary>
public static class ContractSerialization
{
    public static ISerializerBuilder AddContractsAsJson(this ISerializerBuilder serializer) =>
        serializer.AddJsonSerializer(isSupported: t => t.Namespace == typeof(ExperimentSpec).Namespace,
            new JsonSerializerOptions(JsonSerializerDefaults.General)
            {
                NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
            });
}
