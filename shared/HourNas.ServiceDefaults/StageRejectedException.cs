namespace HourNas.ServiceDefaults;

/// <summary>
/// A stage cannot succeed with this input (bad preset, genotype, budget or data): the bus does not retry it,
/// the message goes straight to the error queue, and the experiment fails with <see cref="Exception.Message"/>.
/// </summary>
public sealed class StageRejectedException(string message, Exception? inner = null) : Exception(message, inner);
