using System.Net;
using System.Net.Sockets;

namespace HourNas.ServiceDefaults;

/// <summary>
/// Free loopback TCP ports for listeners that must be told their port before they bind it (an Orleans silo, an
/// address other processes are given in advance). They are picked below the system's ephemeral range, as Aspire does
/// for its own endpoints: a port from that range, free when checked, can go to any outgoing connection or port-0
/// listener on the machine in the seconds before its owner binds it.
/// </summary>
public static class LoopbackPorts
{
    /// <summary>The lowest port picked: clear of the well-known and most fixed service ports.</summary>
    public const int RangeStart = 10000;

    private const string EphemeralRangeFile = "/proc/sys/net/ipv4/ip_local_port_range";

    /// <summary>Where Linux says its ephemeral range starts; elsewhere the IANA dynamic range, 49152.</summary>
    public static int EphemeralStart() =>
        File.Exists(EphemeralRangeFile) && ParseEphemeralStart(File.ReadAllText(EphemeralRangeFile)) is { } start
            ? start
            : 49152;

    /// <summary>
    /// The first number of <c>ip_local_port_range</c> ("32768\t60999"), or null if the text is not that.
    /// </summary>
    public static int? ParseEphemeralStart(string text) =>
        text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries) is [var first, _]
            && int.TryParse(first, out var port) && port is > 0 and < 65536
            ? port : null;

    /// <summary>
    /// Distinct ports that were free on 127.0.0.1 a moment ago, from [<see cref="RangeStart"/>, ephemeral start);
    /// where the ephemeral range leaves no room below it, ports the system hands out.
    /// </summary>
    public static int[] PickFree(int count) => PickFree(count, EphemeralStart());

    /// <summary>As <see cref="PickFree(int)"/>, for an ephemeral range that starts at <paramref name="end"/>.</summary>
    public static int[] PickFree(int count, int end)
    {
        var below = end - RangeStart >= 1000;
        var picked = new List<int>(count);
        for (var misses = 0; picked.Count < count;)
        {
            var port = below ? Bind(Random.Shared.Next(RangeStart, end)) : Bind(0);
            if (port is { } free && !picked.Contains(free))
                picked.Add(free);
            else if (++misses == 1000)
                throw new InvalidOperationException(
                    $"No free loopback port found in {RangeStart}-{end - 1}: 1000 candidates were taken");
        }
        return [.. picked];
    }

    /// <summary>Binds and releases the port (0: one the system picks); null if it is taken.</summary>
    private static int? Bind(int port)
    {
        try
        {
            var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            var bound = ((IPEndPoint)listener.LocalEndpoint).Port;
            listener.Stop();
            return bound;
        }
        catch (SocketException)
        {
            return null;
        }
    }
}
