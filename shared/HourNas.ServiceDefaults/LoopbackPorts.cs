using System.Net;
using System.Net.Sockets;

namespace HourNas.ServiceDefaults;

/// <summary>
/// Free loopback TCP ports for listeners that must be told their port before they bind it (an Orleans silo, an address
/// other processes are given in advance). They are picked below the system's ephemeral range, as Aspire does for its
/// own endpoints: a port from that range, free when checked, can go to any outgoing connection or port-0 listener on
/// the machine in the seconds before its owner binds it.
/// </summary>
public static class LoopbackPorts
{
    /// <summary>The lowest port picked: clear of the well-known and most fixed service ports.</summary>
    public const int RangeStart = 10000;

    private const string EphemeralRangeFile = "/proc/sys/net/ipv4/ip_local_port_range";

    /// <summary>Where Linux says its ephemeral range starts; elsewhere the IANA dynamic range, 49152.</summary>
    public static int EphemeralStart() =>
        File.Exists(EphemeralRangeFile) && ParseEphemeralStart(File.ReadAllText(EphemeralRangeFile)) is { } start ? start : 49152;

    /// <summary>The first number of <c>ip_local_port_range</c> ("32768\t60999"), or null if the text is not that.</summary>
    public static int? ParseEphemeralStart(string text) =>
        text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries) is [var first, _] && int.TryParse(first, out var port) && port is > 0 and < 65536
            ? port : null;

    public static int PickFree() => PickFree(1)[0];

    /// <summary>Distinct ports that were free on 127.0.0.1 a moment ago, from [<see cref="RangeStart"/>, ephemeral start).</summary>
    public static int[] PickFree(int count)
    {
        var end = EphemeralStart();  // exclusive
        if (end - RangeStart < 1000)
            throw new InvalidOperationException($"The ephemeral port range starts at {end}: no room below it for fixed ports from {RangeStart}");
        var picked = new List<int>(count);
        for (var misses = 0; picked.Count < count;)
        {
            var port = Random.Shared.Next(RangeStart, end);
            if (!picked.Contains(port) && IsFree(port))
                picked.Add(port);
            else if (++misses == 1000)
                throw new InvalidOperationException($"No free loopback port found in {RangeStart}-{end - 1}: 1000 candidates were taken");
        }
        return [.. picked];
    }

    private static bool IsFree(int port)
    {
        try
        {
            var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            listener.Stop();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
