namespace HourNas.Contracts;

/// <summary>Texts that came over the network, cut before they are stored or echoed back in a message.</summary>
public static class BoundedText
{
    /// <summary>The value, or its first <paramref name="max"/> characters and its length when longer.</summary>
    public static string Shown(string value, int max) =>
        value.Length <= max ? value : $"{value[..max]}... ({value.Length:N0} characters)";
}
