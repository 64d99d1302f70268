namespace HourNas.SearchSpace;

/// <summary>Bad input to the search space: the message names what is wrong and where.</summary>
public sealed class SearchSpaceException(string message) : Exception(message);
