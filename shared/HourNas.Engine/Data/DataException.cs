namespace HourNas.Engine.Data;

/// <summary>A dataset that cannot be used: the message names the file and what is wrong with it.</summary>
public sealed class DataException(string message) : Exception(message);
