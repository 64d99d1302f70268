using System.Numerics;

namespace HourNas.Engine.Data;

/// <summary>Bytes to floats and back, a vector at a time: the loader converts every pixel of every read.</summary>
internal static class PixelVectors
{
    /// <summary>to[i] = from[i] * scale + shift.</summary>
    public static void Widen(ReadOnlySpan<byte> from, Span<float> to, float scale = 1, float shift = 0)
    {
        var i = 0;
        var n = Vector<float>.Count;
        var (vs, vb) = (new Vector<float>(scale), new Vector<float>(shift));
        for (; i + Vector<byte>.Count <= from.Length; i += Vector<byte>.Count)
        {
            Vector.Widen(new Vector<byte>(from[i..]), out var low, out var high);
            Vector.Widen(low, out var a, out var b);
            Vector.Widen(high, out var c, out var d);
            (Vector.ConvertToSingle(a) * vs + vb).CopyTo(to[i..]);
            (Vector.ConvertToSingle(b) * vs + vb).CopyTo(to[(i + n)..]);
            (Vector.ConvertToSingle(c) * vs + vb).CopyTo(to[(i + 2 * n)..]);
            (Vector.ConvertToSingle(d) * vs + vb).CopyTo(to[(i + 3 * n)..]);
        }
        for (; i < from.Length; i++) to[i] = from[i] * scale + shift;
    }

    /// <summary>Rounds each value to the nearest byte, clamped to [0, 255].</summary>
    public static void Narrow(ReadOnlySpan<float> from, Span<byte> to)
    {
        var i = 0;
        var n = Vector<float>.Count;
        for (; i + Vector<byte>.Count <= from.Length; i += Vector<byte>.Count)
        {
            var low = Vector.Narrow(Round(from[i..]), Round(from[(i + n)..]));
            var high = Vector.Narrow(Round(from[(i + 2 * n)..]), Round(from[(i + 3 * n)..]));
            Vector.Narrow(Vector.AsVectorUInt16(low), Vector.AsVectorUInt16(high)).CopyTo(to[i..]);
        }
        for (; i < from.Length; i++) to[i] = (byte)Math.Clamp((int)(from[i] + 0.5f), 0, 255);
    }

    /// <summary>Clamps each value to [0, 255] in place.</summary>
    public static void Clamp(Span<float> values)
    {
        var i = 0;
        var top = new Vector<float>(255f);
        for (; i + Vector<float>.Count <= values.Length; i += Vector<float>.Count)
            Vector.Min(Vector.Max(new Vector<float>(values[i..]), Vector<float>.Zero), top).CopyTo(values[i..]);
        for (; i < values.Length; i++) values[i] = Math.Clamp(values[i], 0, 255);
    }

    /// <summary>
    /// A thread's reusable buffer, grown to at least <paramref name="length"/>: the loader reads every image every
    /// epoch, and a 224-px image's buffers are large-object allocations, which collect only with the whole heap.
    /// </summary>
    public static T[] Grow<T>(ref T[]? buffer, int length)
    {
        if (buffer is null || buffer.Length < length) buffer = new T[length];
        return buffer;
    }

    private static Vector<int> Round(ReadOnlySpan<float> at) => Vector.ConvertToInt32(
        Vector.Min(Vector.Max(new Vector<float>(at) + new Vector<float>(0.5f), Vector<float>.Zero),
            new Vector<float>(255f)));
}
