using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace HourNas.Engine.Training;

/// <summary>
/// Process-wide TorchSharp set-up: device selection, thread count and allocator behaviour. Device: "cpu",
/// "cuda" or "cuda:N", else the HOURNAS_DEVICE variable, else CPU. CUDA needs the TorchSharp-cuda-linux build
/// (see docs/engine.md); asking for it on a CPU build is a clear error.
/// </summary>
public static partial class TorchRuntime
{
    private static readonly Lock Gate = new();
    /// <summary>Held by every draw from libtorch's global generator: <see cref="Seeded"/> and every build.</summary>
    internal static readonly Lock GlobalRandom = new();
    private static bool AllocatorTuned;

    /// <summary>
    /// Builds with libtorch's global generator seeded, holding it for the whole build: it is the one generator a
    /// network's initial weights are drawn from, and stages of several experiments run in one process (embedded
    /// mode, a worker serving several queues), so a seed and the draws after it must not interleave with another's.
    /// Every other random draw here has a generator of its own (data order, paths, dropout masks, timing inputs).
    /// </summary>
    public static T Seeded<T>(ulong seed, Func<T> build)
    {
        lock (GlobalRandom)
        {
            manual_seed((long)seed);
            return build();
        }
    }

    /// <summary>A random input for timing on <paramref name="device"/>, off libtorch's global generator.</summary>
    public static Tensor TimingInput(long[] shape, Device device)
    {
        using var random = new Generator(0);
        var x = randn(shape, generator: random);
        if (device.type == DeviceType.CPU) return x;
        using (x) return x.to(device);
    }

    public static Device Initialize(string? device = null, int? threads = null)
    {
        NumericsPinning.Mode(); // an unknown HOURNAS_NUMERICS fails here, before anything trains
        lock (Gate)
        {
            // HOURNAS_MALLOC_TUNING=0 leaves glibc's defaults, to measure what the tuning buys.
            if (!AllocatorTuned && Environment.GetEnvironmentVariable("HOURNAS_MALLOC_TUNING") != "0")
            {
                TuneAllocator();
                AllocatorTuned = true;
            }
        }
        // HOURNAS_THREADS caps libtorch's CPU threads, for several workers sharing one machine's cores.
        if (threads is null
            && int.TryParse(Environment.GetEnvironmentVariable("HOURNAS_THREADS"), out var fromEnvironment)
            && fromEnvironment > 0)
            threads = fromEnvironment;
        if (threads is { } t) torch.set_num_threads(t);
        var name = device ?? Environment.GetEnvironmentVariable("HOURNAS_DEVICE") ?? "cpu";
        if (name.StartsWith("cuda", StringComparison.OrdinalIgnoreCase) && !torch.cuda.is_available())
            throw new InvalidOperationException(
                $"device '{name}' requested but CUDA is not available: this is the CPU build of libtorch " +
                "(build with -p:TorchBackend=cuda on a machine with a GPU)");
        return torch.device(name);
    }

    /// <summary>
    /// glibc returns large freed buffers to the OS (mmap/trim), so every training step faulted its activations in
    /// again: 12-18 M page faults an epoch measured here. Keeping big blocks in the heap removes that.
    /// </summary>
    private static void TuneAllocator()
    {
        if (!OperatingSystem.IsLinux()) return;
        try
        {
            const int mTrimThreshold = -1, mMmapThreshold = -3;
            mallopt(mMmapThreshold, 32 * 1024 * 1024); // the largest value glibc accepts; fixes the threshold
            mallopt(mTrimThreshold, 1024 * 1024 * 1024);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // Not glibc (e.g. musl): nothing to tune.
        }
    }

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int mallopt(int param, int value);
}
