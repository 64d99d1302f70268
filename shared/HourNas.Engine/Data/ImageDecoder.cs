using System.Buffers;
using System.Runtime.InteropServices;
using SkiaSharp;

namespace HourNas.Engine.Data;

/// <summary>
/// Decodes an image file to RGBX pixels (4 bytes per pixel, the fourth unused), whole or not at all. JPEG goes
/// through libjpeg-turbo's TurboJPEG library when the machine has it (Debian's libturbojpeg0): its SIMD decode ran at
/// 2.4x the speed of the decoder inside SkiaSharp's portable build on 256-pixel pictures (docs/performance.md). PNG,
/// any JPEG TurboJPEG refuses (CMYK, damaged) and machines without the library go through Skia's codec, which
/// also names what is wrong with a file it cannot decode completely.
/// </summary>
public static class ImageDecoder
{
    /// <summary>A file of more pixels than this is refused before any buffer is sized by its header.</summary>
    public const long MaxPixels = 50_000_000;

    /// <summary>
    /// Which decoder reads JPEG in this process: "turbojpeg" when the library loads, unless the environment variable
    /// HOURNAS_JPEG_DECODER is "skia" (to compare the two, or to rule one out).
    /// </summary>
    public static string JpegDecoder { get; } =
        TurboJpeg.Available && Environment.GetEnvironmentVariable("HOURNAS_JPEG_DECODER") != "skia"
            ? "turbojpeg" : "skia";

    [ThreadStatic] private static byte[]? PixelBuffer;

    /// <summary>
    /// Decodes <paramref name="path"/>. The pixels are this thread's buffer, valid until its next decode (the
    /// loader decodes every image every epoch, so nothing is allocated per image). <paramref name="useTurboJpeg"/>
    /// false forces Skia's decoder (to compare the two).
    /// </summary>
    public static (byte[] Rgbx, int Width, int Height) Decode(string path, bool useTurboJpeg = true)
    {
        byte[]? file = null;
        try
        {
            int length;
            try
            {
                using var handle = File.OpenHandle(path);
                var size = RandomAccess.GetLength(handle);
                if (size == 0) throw new DataException($"{path}: empty file, not an image");
                if (size > int.MaxValue) throw new DataException($"{path}: {size} bytes, too large for an image");
                length = (int)size;
                file = ArrayPool<byte>.Shared.Rent(length);
                if (RandomAccess.Read(handle, file.AsSpan(0, length), 0) != length)
                    throw new DataException($"{path}: cannot be read: the file changed while it was read");
            }
            catch (IOException e)
            {
                throw new DataException($"{path}: cannot be read: {e.Message}");
            }
            var bytes = file.AsSpan(0, length);
            var isJpeg = bytes is [0xFF, 0xD8, 0xFF, ..];
            if (isJpeg && useTurboJpeg && JpegDecoder == "turbojpeg"
                && TurboJpeg.TryDecode(bytes, path, ref PixelBuffer, out var w, out var h))
                return (PixelBuffer!, w, h);
            return DecodeWithSkia(bytes, path);
        }
        finally
        {
            if (file is not null) ArrayPool<byte>.Shared.Return(file);
        }
    }

    /// <summary>
    /// Skia's codec says whether a decode was complete; its one-call decoders return a partly black picture for a
    /// file cut short, which would train and test silently on garbage.
    /// </summary>
    private static (byte[], int, int) DecodeWithSkia(ReadOnlySpan<byte> bytes, string path)
    {
        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data)
            ?? throw new DataException($"{path}: not a decodable JPEG or PNG (corrupt, or not an image)");
        var (w, h) = (codec.Info.Width, codec.Info.Height);
        var pixels = Buffer(ref PixelBuffer, w, h, path);
        var info = new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        SKCodecResult result;
        unsafe
        {
            fixed (byte* p = pixels) result = codec.GetPixels(info, (IntPtr)p);
        }
        if (result == SKCodecResult.Success) return (pixels, w, h);
        throw new DataException(result == SKCodecResult.IncompleteInput
            ? $"{path}: incomplete image (the file ends before the picture does: truncated?)"
            : $"{path}: incomplete or corrupt image ({result})");
    }

    /// <summary>This thread's pixel buffer, grown to <paramref name="w"/> x <paramref name="h"/> RGBX.</summary>
    internal static byte[] Buffer(ref byte[]? buffer, int w, int h, string path)
    {
        if (w <= 0 || h <= 0 || (long)w * h > MaxPixels)
            throw new DataException($"{path}: {w}x{h} pixels: not an image size this loader reads " +
                $"(at most {MaxPixels:N0} pixels)");
        return PixelVectors.Grow(ref buffer, 4 * w * h);
    }

    /// <summary>
    /// libjpeg-turbo's TurboJPEG API, bound at run time so a machine without it still loads (and uses Skia).
    /// </summary>
    private static unsafe class TurboJpeg
    {
        private const int PixelFormatRgbx = 2; // TJPF_RGBX

        private static readonly delegate* unmanaged<IntPtr> Init;
        private static readonly delegate* unmanaged<IntPtr, byte*, CULong, int*, int*, int*, int*, int> Header;
        private static readonly delegate* unmanaged<IntPtr, byte*, CULong, byte*, int, int, int, int, int, int>
            Decompress;

        // One decompressor per thread, kept for the thread's life: a few kilobytes, and loader threads are pooled.
        [ThreadStatic] private static IntPtr Handle;

        static TurboJpeg()
        {
            foreach (var name in new[] { "libturbojpeg.so.0", "libturbojpeg.so", "libturbojpeg.0.dylib", "turbojpeg" })
            {
                if (!NativeLibrary.TryLoad(name, out var library)) continue;
                if (!NativeLibrary.TryGetExport(library, "tjInitDecompress", out var init)
                    || !NativeLibrary.TryGetExport(library, "tjDecompressHeader3", out var header)
                    || !NativeLibrary.TryGetExport(library, "tjDecompress2", out var decompress))
                    continue;
                Init = (delegate* unmanaged<IntPtr>)init;
                Header = (delegate* unmanaged<IntPtr, byte*, CULong, int*, int*, int*, int*, int>)header;
                Decompress = (delegate* unmanaged<IntPtr, byte*, CULong, byte*, int, int, int, int, int, int>)
                    decompress;
                Available = true;
                return;
            }
        }

        public static bool Available { get; }

        /// <summary>
        /// False when TurboJPEG cannot decode the file completely; a warning (such as a file that ends early) counts
        /// as a failure, and the caller's Skia decode then decides and names the fault.
        /// </summary>
        public static bool TryDecode(ReadOnlySpan<byte> jpeg, string path, ref byte[]? buffer, out int w, out int h)
        {
            w = h = 0;
            if (Handle == IntPtr.Zero) Handle = Init();
            if (Handle == IntPtr.Zero) return false;
            fixed (byte* source = jpeg)
            {
                int width, height, subsampling, colourspace;
                if (Header(Handle, source, new CULong((nuint)jpeg.Length), &width, &height, &subsampling,
                        &colourspace) != 0)
                    return false;
                var pixels = Buffer(ref buffer, width, height, path);
                fixed (byte* target = pixels)
                {
                    if (Decompress(Handle, source, new CULong((nuint)jpeg.Length), target, width, 4 * width,
                            height, PixelFormatRgbx, 0) != 0)
                        return false;
                }
                (w, h) = (width, height);
                return true;
            }
        }
    }
}
