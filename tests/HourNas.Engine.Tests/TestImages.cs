using SkiaSharp;

namespace HourNas.Engine.Tests;

/// <summary>Encoded pictures for the image-folder tests.</summary>
internal static class TestImages
{
    /// <summary>
    /// Seeded RGB noise, encoded: it compresses badly, so a file is large and resizing filters differ on it.
    /// </summary>
    public static byte[] Noise(int size, SKEncodedImageFormat format, int seed)
    {
        using var bitmap = new SKBitmap(size, size);
        var rng = new Random(seed);
        for (var y = 0; y < size; y++)
            for (var x = 0; x < size; x++)
                bitmap.SetPixel(x, y, new SKColor((byte)rng.Next(256), (byte)rng.Next(256), (byte)rng.Next(256)));
        using var encoded = bitmap.Encode(format, format == SKEncodedImageFormat.Png ? 100 : 90);
        return encoded.ToArray();
    }
}
