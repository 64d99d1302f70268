using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace HourNas.Engine.Training;

/// <summary>
/// What decided a run's floating-point sums besides its seed: the CPU, the code paths libtorch's three CPU
/// libraries were held to (null: the library's own pick for this CPU) and the thread count. Two runs with one seed
/// give the same files only where all of these agree (docs/engine.md, "Reproducible across machines").
/// </summary>
public sealed record Numerics(
    string Mode,
    string Cpu,
    string? AtenCpuCapability,
    string? OneDnnMaxCpuIsa,
    string? MklCbwr,
    int Threads);

/// <summary>
/// <c>HOURNAS_NUMERICS=portable</c> holds ATen's vectorised kernels, oneDNN's convolutions and MKL's BLAS to their
/// AVX2 code paths. Each of the three otherwise picks its own by the CPU (AVX-512 where there is one), and each
/// alone changes a trained network's weights, so one seed gave other networks on other machines. The libraries
/// read these variables from the native environment on their first use, hence the module initializer and libc's
/// setenv (.NET keeps a managed copy of the environment that native code does not see).
/// </summary>
public static partial class NumericsPinning
{
    public const string Variable = "HOURNAS_NUMERICS";

    public const string Portable = "portable";

    public const string Native = "native";

    /// <summary>Written beside every stage's result.json.</summary>
    public const string FileName = "numerics.json";

    /// <summary>The variables <see cref="Portable"/> sets and their values (each library's name for AVX2).</summary>
    public static readonly IReadOnlyList<(string Name, string Value)> PortableSettings =
    [
        ("ATEN_CPU_CAPABILITY", "avx2"),
        ("ONEDNN_MAX_CPU_ISA", "AVX2"),
        ("MKL_CBWR", "AVX2"),
    ];

    /// <summary>Runs when the engine is first used, before any libtorch call of this process.</summary>
    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255", Justification = "the pins must be set before libtorch's first operation")]
    internal static void PinBeforeLibtorch()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable(Variable) != Portable) return;
        foreach (var (name, value) in PortableSettings) setenv(name, value, 1);
    }

    /// <summary>The mode asked for; an unknown value is a clear error (the stage fails before it trains).</summary>
    public static string Mode()
    {
        var mode = Environment.GetEnvironmentVariable(Variable);
        return mode switch
        {
            null or "" or Native => Native,
            Portable => Portable,
            _ => throw new InvalidOperationException(
                $"{Variable} must be '{Portable}' or '{Native}' (or unset), got '{mode}'"),
        };
    }

    // The CPU does not change while the process runs: /proc/cpuinfo is read once.
    private static readonly Lazy<string> Cpu = new(CpuModel);

    /// <summary>What this process runs with, read back from the native environment the libraries see.</summary>
    public static Numerics Current() =>
        new(Mode(), Cpu.Value, NativeVariable("ATEN_CPU_CAPABILITY"), NativeVariable("ONEDNN_MAX_CPU_ISA"),
            NativeVariable("MKL_CBWR"), TorchSharp.torch.get_num_threads());

    private static string CpuModel()
    {
        const string cpuInfo = "/proc/cpuinfo";
        if (!File.Exists(cpuInfo)) return RuntimeInformation.ProcessArchitecture.ToString();
        var lines = File.ReadAllLines(cpuInfo);
        var line = lines.FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
        var flags = lines.FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal));
        var model = line?.Split(':', 2)[1].Trim() ?? RuntimeInformation.ProcessArchitecture.ToString();
        // The instruction sets the libraries choose between, so two cards show why their sums may differ.
        var sets = (flags?.Split(':', 2)[1] ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Where(f => f is "avx2" or "avx512f" or "avx512_bf16" or "amx_tile")
            .ToList();
        return sets.Count == 0 ? model : $"{model} ({string.Join(' ', sets)})";
    }

    private static string? NativeVariable(string name) =>
        OperatingSystem.IsLinux() ? Marshal.PtrToStringUTF8(getenv(name)) : Environment.GetEnvironmentVariable(name);

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int setenv(string name, string value, int overwrite);

    [LibraryImport("libc", EntryPoint = "getenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr getenv(string name);
}
