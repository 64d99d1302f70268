using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace HourNas.Engine.Data;

/// <summary>
/// Resizes a rectangle of an RGBX picture (4 bytes per pixel) to an RGBX target with a separable filter, as PIL's
/// resize with a box does: the kernel widens by the reduction factor when shrinking (so a reduction averages
/// instead of skipping pixels), and the weights a picture's edge cuts off are renormalised. Bilinear is the triangle
/// filter, bicubic the a = -0.5 cubic (PIL's bicubic; Catmull-Rom when enlarging). Rows first, into floats, then
/// columns with vector arithmetic; a flip mirrors the row weights, so it costs nothing.
/// </summary>
public static class CropResampler
{
    [ThreadStatic] private static float[]? RowsBuffer;
    [ThreadStatic] private static float[]? LineBuffer;

    /// <summary>
    /// Writes the crop (<paramref name="x"/>, <paramref name="y"/>, <paramref name="width"/> x
    /// <paramref name="height"/> in source pixels, fractions allowed) of <paramref name="source"/>, resized to
    /// <paramref name="targetWidth"/> x <paramref name="targetHeight"/>, mirrored left to right when
    /// <paramref name="flip"/>, into <paramref name="target"/>. Values are rounded to the nearest byte.
    /// </summary>
    public static void Resize(ReadOnlySpan<byte> source, int sourceWidth, int sourceHeight,
        double x, double y, double width, double height,
        Span<byte> target, int targetWidth, int targetHeight, bool bicubic, bool flip)
    {
        if (sourceWidth <= 0 || sourceHeight <= 0 || source.Length < 4 * sourceWidth * sourceHeight)
            throw new ArgumentException($"a {sourceWidth}x{sourceHeight} RGBX source needs " +
                $"{4L * sourceWidth * sourceHeight} bytes, got {source.Length}", nameof(source));
        if (targetWidth <= 0 || targetHeight <= 0 || target.Length < 4 * targetWidth * targetHeight)
            throw new ArgumentException($"a {targetWidth}x{targetHeight} RGBX target needs " +
                $"{4L * targetWidth * targetHeight} bytes, got {target.Length}", nameof(target));
        if (!(width > 0 && height > 0 && x >= 0 && y >= 0 && x + width <= sourceWidth + 1e-6
                && y + height <= sourceHeight + 1e-6))
            throw new ArgumentException($"the crop ({x}, {y}, {width} x {height}) is not inside the " +
                $"{sourceWidth}x{sourceHeight} source");

        var columns = Weights.Of(sourceWidth, x, width, targetWidth, bicubic);
        var rows = Weights.Of(sourceHeight, y, height, targetHeight, bicubic);
        var first = rows.Start[0];
        var last = rows.Start[targetHeight - 1] + rows.Count[targetHeight - 1];
        var stride = 4 * targetWidth;
        var resized = PixelVectors.Grow(ref RowsBuffer, (last - first) * stride);
        var line = PixelVectors.Grow(ref LineBuffer, 4 * sourceWidth);

        // Rows: each source row the columns' filters reach, converted to floats once, then filtered along x, a pixel
        // (four floats) at a time.
        for (var r = first; r < last; r++)
        {
            PixelVectors.Widen(source.Slice(4 * sourceWidth * r, 4 * sourceWidth), line);
            var output = resized.AsSpan((r - first) * stride, stride);
            ref var pixels = ref MemoryMarshal.GetArrayDataReference(line);
            for (var t = 0; t < targetWidth; t++)
            {
                var taps = columns.Weight.AsSpan(t * columns.Taps, columns.Count[t]);
                var p = 4 * columns.Start[t];
                var sum = Vector128<float>.Zero;
                foreach (var w in taps)
                {
                    sum += Vector128.Create(w) * Vector128.LoadUnsafe(ref pixels, (nuint)p);
                    p += 4;
                }
                sum.StoreUnsafe(ref MemoryMarshal.GetReference(output), (nuint)(4 * (flip ? targetWidth - 1 - t : t)));
            }
        }

        // Columns: each target row a weighted sum of whole filtered rows, a vector at a time (in the line's buffer,
        // which the rows no longer need).
        var total = PixelVectors.Grow(ref LineBuffer, stride).AsSpan(0, stride);
        var whole = stride - stride % Vector<float>.Count;
        for (var t = 0; t < targetHeight; t++)
        {
            total.Clear();
            var taps = rows.Weight.AsSpan(t * rows.Taps, rows.Count[t]);
            var sums = MemoryMarshal.Cast<float, Vector<float>>(total[..whole]);
            for (var k = 0; k < taps.Length; k++)
            {
                var input = resized.AsSpan((rows.Start[t] - first + k) * stride, stride);
                var w = taps[k];
                var weight = new Vector<float>(w);
                var inputs = MemoryMarshal.Cast<float, Vector<float>>(input[..whole]);
                for (var i = 0; i < sums.Length; i++) sums[i] += weight * inputs[i];
                for (var i = whole; i < stride; i++) total[i] += w * input[i];
            }
            PixelVectors.Narrow(total, target.Slice(t * stride, stride));
        }
    }

    /// <summary>One axis's filter: for target pixel t, Count[t] weights from source pixel Start[t] on.</summary>
    private sealed record Weights(int[] Start, int[] Count, float[] Weight, int Taps)
    {
        public static Weights Of(int size, double offset, double length, int target, bool bicubic)
        {
            var scale = length / target;
            var spread = Math.Max(scale, 1.0);
            var support = (bicubic ? 2.0 : 1.0) * spread;
            var taps = (int)Math.Ceiling(support) * 2 + 1;
            var start = new int[target];
            var count = new int[target];
            var weight = new float[target * taps];
            for (var t = 0; t < target; t++)
            {
                var centre = offset + (t + 0.5) * scale;
                var min = Math.Max(0, (int)Math.Floor(centre - support + 0.5));
                var max = Math.Min(size, (int)Math.Floor(centre + support + 0.5));
                max = Math.Min(max, min + taps);
                double total = 0;
                for (var s = min; s < max; s++) total += Filter((s - centre + 0.5) / spread, bicubic);
                if (total == 0)
                {
                    // Only a degenerate crop misses every source pixel: take the nearest one.
                    min = Math.Clamp((int)centre, 0, size - 1);
                    max = min + 1;
                    weight[t * taps] = 1;
                }
                else
                {
                    for (var s = min; s < max; s++)
                        weight[t * taps + s - min] = (float)(Filter((s - centre + 0.5) / spread, bicubic) / total);
                }
                (start[t], count[t]) = (min, max - min);
            }
            return new Weights(start, count, weight, taps);
        }

        private static double Filter(double d, bool bicubic)
        {
            d = Math.Abs(d);
            if (!bicubic) return d < 1 ? 1 - d : 0;
            const double a = -0.5;
            if (d < 1) return ((a + 2) * d - (a + 3)) * d * d + 1;
            return d < 2 ? (((d - 5) * d + 8) * d - 4) * a : 0;
        }
    }
}
