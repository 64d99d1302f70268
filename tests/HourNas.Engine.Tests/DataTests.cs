using System.Buffers.Binary;
using System.IO.Compression;
using HourNas.Engine.Data;
using HourNas.SearchSpace;
using SkiaSharp;

namespace HourNas.Engine.Tests;

public class DataTests
{
    private static byte[] IdxImages(int count, int rows, int cols, int magic = 0x803, int? claimedCount = null)
    {
        var data = new byte[16 + count * rows * cols];
        BinaryPrimitives.WriteInt32BigEndian(data, magic);
        BinaryPrimitives.WriteInt32BigEndian(data.AsSpan(4), claimedCount ?? count);
        BinaryPrimitives.WriteInt32BigEndian(data.AsSpan(8), rows);
        BinaryPrimitives.WriteInt32BigEndian(data.AsSpan(12), cols);
        for (var i = 16; i < data.Length; i++) data[i] = (byte)(i * 7);
        return data;
    }

    private static byte[] IdxLabels(int count, int magic = 0x801, byte maxLabel = 9)
    {
        var data = new byte[8 + count];
        BinaryPrimitives.WriteInt32BigEndian(data, magic);
        BinaryPrimitives.WriteInt32BigEndian(data.AsSpan(4), count);
        for (var i = 0; i < count; i++) data[8 + i] = (byte)(i % (maxLabel + 1));
        return data;
    }

    private static void WriteGz(string path, byte[] data)
    {
        using var file = File.Create(path);
        using var gz = new GZipStream(file, CompressionLevel.Fastest);
        gz.Write(data);
    }

    private static void WriteFashionMnist(TempFolder dir, int train = 20, int test = 10)
    {
        WriteGz(dir.File("train-images-idx3-ubyte.gz"), IdxImages(train, 28, 28));
        WriteGz(dir.File("train-labels-idx1-ubyte.gz"), IdxLabels(train));
        WriteGz(dir.File("t10k-images-idx3-ubyte.gz"), IdxImages(test, 28, 28));
        WriteGz(dir.File("t10k-labels-idx1-ubyte.gz"), IdxLabels(test));
    }

    [Fact]
    public void Fashion_mnist_idx_files_load_with_their_pixels_and_labels()
    {
        using var dir = new TempFolder();
        WriteFashionMnist(dir);
        var (train, test) = FashionMnist.Load(dir.Path);
        Assert.Equal((20, 10, 1, 28, 28, 10),
            (train.Count, test.Count, train.Channels, train.Height, train.Width, train.Classes));
        var image = new byte[784];
        train.Read(3, image, augment: false, new Rng(0));
        Assert.Equal(IdxImages(20, 28, 28).AsSpan(16 + 3 * 784, 784).ToArray(), image);
        Assert.Equal(3, train.Label(3));
    }

    [Fact]
    public void Uncompressed_idx_files_load_too()
    {
        using var dir = new TempFolder();
        File.WriteAllBytes(dir.File("train-images-idx3-ubyte"), IdxImages(5, 28, 28));
        File.WriteAllBytes(dir.File("train-labels-idx1-ubyte"), IdxLabels(5));
        File.WriteAllBytes(dir.File("t10k-images-idx3-ubyte"), IdxImages(2, 28, 28));
        File.WriteAllBytes(dir.File("t10k-labels-idx1-ubyte"), IdxLabels(2));
        Assert.Equal(5, FashionMnist.Load(dir.Path).Train.Count);
    }

    [Fact]
    public void Idx_errors_name_the_file_and_the_problem()
    {
        using var dir = new TempFolder();
        WriteFashionMnist(dir);
        var images = dir.File("train-images-idx3-ubyte.gz");
        var labels = dir.File("train-labels-idx1-ubyte.gz");

        WriteGz(images, IdxImages(20, 28, 28, magic: 0x801));
        var e = Assert.Throws<DataException>(() => FashionMnist.Load(dir.Path));
        Assert.Contains(images, e.Message);
        Assert.Contains("wrong magic number", e.Message);

        WriteGz(images, IdxImages(20, 28, 28, claimedCount: 25));
        e = Assert.Throws<DataException>(() => FashionMnist.Load(dir.Path));
        Assert.Contains("truncated or corrupt", e.Message);

        WriteGz(images, IdxImages(20, 28, 28));
        WriteGz(labels, IdxLabels(19));
        e = Assert.Throws<DataException>(() => FashionMnist.Load(dir.Path));
        Assert.Contains("19 labels", e.Message);
        Assert.Contains("20 images", e.Message);

        WriteGz(labels, IdxLabels(20, maxLabel: 12));
        e = Assert.Throws<DataException>(() => FashionMnist.Load(dir.Path));
        Assert.Contains("outside 0..9", e.Message);

        var gz = File.ReadAllBytes(labels);
        File.WriteAllBytes(labels, gz[..(gz.Length / 2)]);
        e = Assert.Throws<DataException>(() => FashionMnist.Load(dir.Path));
        Assert.Contains(labels, e.Message);

        File.Delete(labels);
        e = Assert.Throws<DataException>(() => FashionMnist.Load(dir.Path));
        Assert.Contains("has no train-labels-idx1-ubyte", e.Message);

        e = Assert.Throws<DataException>(() => FashionMnist.Load(dir.File("missing")));
        Assert.Contains("does not exist", e.Message);
    }

    private static byte[] CifarRecords(int count, byte badLabelAt = byte.MaxValue)
    {
        var data = new byte[count * 3073];
        for (var r = 0; r < count; r++)
        {
            data[r * 3073] = r == badLabelAt ? (byte)10 : (byte)(r % 10);
            for (var p = 1; p < 3073; p++) data[r * 3073 + p] = (byte)(r + p);
        }
        return data;
    }

    [Fact]
    public void Cifar10_binary_batches_load_and_bad_ones_are_named()
    {
        using var dir = new TempFolder();
        for (var i = 1; i <= 5; i++) File.WriteAllBytes(dir.File($"data_batch_{i}.bin"), CifarRecords(3));
        File.WriteAllBytes(dir.File("test_batch.bin"), CifarRecords(2));
        var (train, test) = Cifar10.Load(dir.Path);
        Assert.Equal((15, 2, 3, 32), (train.Count, test.Count, train.Channels, train.Height));
        var image = new byte[3072];
        test.Read(1, image, false, new Rng(0));
        Assert.Equal(CifarRecords(2).AsSpan(3073 + 1, 3072).ToArray(), image);
        Assert.Equal(1, test.Label(1));

        File.WriteAllBytes(dir.File("data_batch_3.bin"), CifarRecords(3)[..5000]);
        var e = Assert.Throws<DataException>(() => Cifar10.Load(dir.Path));
        Assert.Contains("data_batch_3.bin", e.Message);
        Assert.Contains("not a whole number", e.Message);

        File.WriteAllBytes(dir.File("data_batch_3.bin"), CifarRecords(3, badLabelAt: 2));
        e = Assert.Throws<DataException>(() => Cifar10.Load(dir.Path));
        Assert.Contains("record 2 has label 10", e.Message);
    }

    private static void WriteImage(string path, int w, int h, SKColor color, SKEncodedImageFormat format)
    {
        using var bitmap = new SKBitmap(w, h);
        bitmap.Erase(color);
        using var data = bitmap.Encode(format, 90);
        File.WriteAllBytes(path, data.ToArray());
    }

    [Fact]
    public void Image_folders_decode_jpeg_and_png_with_crops_and_name_bad_files()
    {
        using var dir = new TempFolder();
        foreach (var split in new[] { "train", "val" })
        {
            Directory.CreateDirectory(dir.File($"{split}/cat"));
            Directory.CreateDirectory(dir.File($"{split}/dog"));
            WriteImage(dir.File($"{split}/cat/a.png"), 40, 30, new SKColor(200, 10, 10), SKEncodedImageFormat.Png);
            WriteImage(dir.File($"{split}/dog/b.jpg"), 50, 64, new SKColor(10, 10, 200), SKEncodedImageFormat.Jpeg);
        }
        var skeleton = Presets.Skeleton("cifar10") with { Classes = 2 };
        var data = Datasets.Open(dir.Path, skeleton);
        Assert.Equal("imagefolder", data.Kind);
        Assert.Equal((2, 2), (data.Train.Count, data.Train.Classes));
        var pixels = new byte[3 * 32 * 32];
        data.Train.Read(0, pixels, augment: true, new Rng(1));
        Assert.InRange(pixels[0], 190, 210); // red plane of the red cat
        Assert.InRange(pixels[2 * 1024], 0, 25);
        data.Test.Read(1, pixels, augment: false, new Rng(1));
        Assert.InRange(pixels[2 * 1024 + 500], 185, 215); // blue plane of the blue dog (JPEG is lossy)

        File.WriteAllText(dir.File("train/dog/broken.jpg"), "not a jpeg");
        var withBroken = new ImageFolder(dir.File("train"), 32, 3);
        var e = Assert.Throws<DataException>(() => withBroken.Read(2, pixels, false, new Rng(0)));
        Assert.Contains("broken.jpg", e.Message);

        Directory.CreateDirectory(dir.File("train/empty"));
        e = Assert.Throws<DataException>(() => new ImageFolder(dir.File("train"), 32, 3));
        Assert.Contains("empty", e.Message);
    }

    [Theory]
    [InlineData(SKEncodedImageFormat.Jpeg, "cut.jpg")]
    [InlineData(SKEncodedImageFormat.Png, "cut.png")]
    public void A_truncated_image_is_an_error_not_a_black_picture(SKEncodedImageFormat format, string name)
    {
        using var dir = new TempFolder();
        Directory.CreateDirectory(dir.File("cat"));
        // Noise, so the encoded file is large and its first half holds only part of the picture.
        var bytes = TestImages.Noise(256, format, seed: 5);
        File.WriteAllBytes(dir.File($"cat/{name}"), bytes[..(bytes.Length / 2)]);
        var folder = new ImageFolder(dir.Path, 64, 3);
        var pixels = new byte[3 * 64 * 64];
        var e = Assert.Throws<DataException>(() => folder.Read(0, pixels, augment: false, new Rng(1)));
        Assert.Contains(name, e.Message);
        Assert.Contains("incomplete", e.Message);

        // The whole file decodes.
        File.WriteAllBytes(dir.File($"cat/{name}"), bytes);
        folder.Read(0, pixels, augment: false, new Rng(1));
        Assert.Contains(pixels, p => p > 0);
    }

    [Fact]
    public void A_dataset_that_does_not_fit_the_skeleton_is_rejected()
    {
        using var dir = new TempFolder();
        WriteFashionMnist(dir);
        var e = Assert.Throws<DataException>(() => Datasets.Open(dir.Path, Presets.Skeleton("cifar10")));
        Assert.Contains("28x28x1", e.Message);
        Assert.Contains("32x32x3", e.Message);
        e = Assert.Throws<DataException>(() => Datasets.Open(dir.Path + "-nope", Presets.Skeleton("fashion-mnist")));
        Assert.Contains("does not exist", e.Message);
        Directory.CreateDirectory(dir.File("other"));
        e = Assert.Throws<DataException>(() => Datasets.Open(dir.File("other"), Presets.Skeleton("fashion-mnist")));
        Assert.Contains("holds none of", e.Message);
    }

    [Fact]
    public void Hold_out_split_is_disjoint_complete_and_seeded()
    {
        using var dir = new TempFolder();
        WriteFashionMnist(dir, train: 200);
        var train = FashionMnist.Load(dir.Path).Train;
        var (a, b) = ImageSources.HoldOut(train, 0.1, seed: 4);
        Assert.Equal(20, b.Count);
        Assert.Empty(a.Indices.Intersect(b.Indices));
        Assert.Equal(200, a.Indices.Union(b.Indices).Count());
        Assert.Equal(b.Indices, ImageSources.HoldOut(train, 0.1, seed: 4).Validation.Indices);
        Assert.NotEqual(b.Indices, ImageSources.HoldOut(train, 0.1, seed: 5).Validation.Indices);
    }

    [Fact]
    public void Batches_are_deterministic_for_a_seed_and_cover_an_epoch()
    {
        using var dir = new TempFolder();
        WriteFashionMnist(dir, train: 100);
        var train = FashionMnist.Load(dir.Path).Train;
        var norm = Normalization.Estimate(train);
        var first = BatchLoader.Read(train, 32, norm, train: true, seed: 9).ToArray();
        var again = BatchLoader.Read(train, 32, norm, train: true, seed: 9).ToArray();
        var other = BatchLoader.Read(train, 32, norm, train: true, seed: 10).ToArray();
        Assert.Equal(3, first.Length); // 100 / 32, last partial batch dropped in training
        Assert.Equal(first.SelectMany(b => b.Images), again.SelectMany(b => b.Images));
        Assert.NotEqual(first.SelectMany(b => b.Labels), other.SelectMany(b => b.Labels));

        var eval = BatchLoader.Read(train, 32, norm, train: false, seed: 0).ToArray();
        Assert.Equal(100, eval.Sum(b => b.Count));
        var all = eval.SelectMany(b => b.Images).ToArray();
        Assert.InRange(all.Average(), -0.05, 0.05); // normalised
    }

    [Fact]
    public void An_epoch_decodes_each_image_once_in_parallel()
    {
        using var dir = new TempFolder();
        for (var i = 0; i < 40; i++)
        {
            Directory.CreateDirectory(dir.File($"c{i % 4}"));
            File.WriteAllBytes(dir.File($"c{i % 4}/{i}.jpg"), TestImages.Noise(40, SKEncodedImageFormat.Jpeg, i));
        }
        var counted = new CountingSource(new ImageFolder(dir.Path, 32, 3));
        var norm = new Normalization([0.5f, 0.5f, 0.5f], [0.25f, 0.25f, 0.25f]);
        // A training epoch (batches of 8 over 40 images) and an evaluation pass: each index read once in each.
        Assert.Equal(40, BatchLoader.Read(counted, 8, norm, train: true, seed: 3).Sum(b => b.Count));
        Assert.All(counted.Reads, r => Assert.Equal(1, r));
        Assert.Equal(40, BatchLoader.Read(counted, 8, norm, train: false, seed: 0).Sum(b => b.Count));
        Assert.All(counted.Reads, r => Assert.Equal(2, r));
        Assert.True(counted.Threads > 1 || Environment.ProcessorCount == 1, "decoding ran on one thread only");
    }

    /// <summary>Counts how often each image is read, and on how many threads.</summary>
    private sealed class CountingSource(IImageSource inner) : IImageSource
    {
        private readonly HashSet<int> _threads = [];

        public int[] Reads { get; } = new int[inner.Count];

        public int Threads
        {
            get
            {
                lock (_threads) return _threads.Count;
            }
        }

        public string Source => inner.Source;

        public int Count => inner.Count;

        public int Classes => inner.Classes;

        public int Channels => inner.Channels;

        public int Height => inner.Height;

        public int Width => inner.Width;

        public bool IsExpensive => inner.IsExpensive;

        public int Label(int index) => inner.Label(index);

        public void Read(int index, Span<byte> destination, bool augment, Rng rng)
        {
            Interlocked.Increment(ref Reads[index]);
            lock (_threads) _threads.Add(Environment.CurrentManagedThreadId);
            inner.Read(index, destination, augment, rng);
        }
    }

    [Fact]
    public void A_reader_failure_surfaces_from_the_loader()
    {
        using var dir = new TempFolder();
        Directory.CreateDirectory(dir.File("c0"));
        File.WriteAllText(dir.File("c0/bad.png"), "garbage");
        var folder = new ImageFolder(dir.Path, 8, 1);
        var e = Assert.Throws<DataException>(() =>
            BatchLoader.Read(folder, 4, new Normalization([0.5f], [0.5f]), false, 0).ToArray());
        Assert.Contains("bad.png", e.Message);
    }

    [Fact]
    public void Real_fashion_mnist_from_the_debian_package()
    {
        var data = Datasets.Open(null, Presets.Skeleton("fashion-mnist"));
        Assert.Equal(60_000, data.Train.Count);
        Assert.Equal(10_000, data.Test.Count);
        var counts = new int[10];
        for (var i = 0; i < data.Train.Count; i++) counts[data.Train.Label(i)]++;
        Assert.All(counts, c => Assert.Equal(6000, c));
    }
}
