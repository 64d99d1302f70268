using HourNas.SearchSpace;
using static TorchSharp.torch;

namespace HourNas.Engine.Networks;

/// <summary>
/// A saved supernet (TorchSharp's state-dict format) read without trusting it: the tensor names and shapes come
/// from the file's headers (bounded, nothing allocated for the data), the network that fits them is built over
/// the given space (which candidates each block holds, independent or entangled, shared or per-candidate
/// BatchNorms), checked tensor by tensor and only then loaded. Every way a file can be wrong is an
/// <see cref="InvalidDataException"/> naming the file and, where it applies, the tensor or block.
/// </summary>
public static class SupernetFile
{
    private const int MaxTensors = 100_000;
    private const int MaxRank = 8;

    /// <summary>The state dict's tensor names and shapes, in file order.</summary>
    public static IReadOnlyList<(string Name, long[] Shape)> ReadShapes(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"supernet weights '{path}' do not exist", path);
        try
        {
            using var stream = File.OpenRead(path);
            using var reader = new BinaryReader(stream);
            var count = Leb128(reader);
            if (count is < 0 or > MaxTensors) throw new InvalidDataException($"header says {count} tensors");
            var tensors = new List<(string, long[])>();
            for (var i = 0; i < count; i++)
            {
                var name = reader.ReadString();
                var type = (ScalarType)Leb128(reader);
                var rank = Leb128(reader);
                if (rank is < 0 or > MaxRank) throw new InvalidDataException($"tensor '{name}' has rank {rank}");
                var shape = new long[rank];
                long elements = 1;
                for (var d = 0; d < rank; d++)
                {
                    shape[d] = Leb128(reader);
                    if (shape[d] is < 0 or > int.MaxValue)
                        throw new InvalidDataException($"tensor '{name}' has a dimension of {shape[d]}");
                    elements = checked(elements * shape[d]);
                }
                var bytes = checked(elements * ElementSize(type, name));
                if (bytes > stream.Length - stream.Position)
                    throw new InvalidDataException($"tensor '{name}' runs past the end of the file");
                stream.Seek(bytes, SeekOrigin.Current);
                tensors.Add((name, shape));
            }
            if (stream.Position != stream.Length) throw new InvalidDataException("bytes left after the last tensor");
            return tensors;
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or FormatException or OverflowException
                                      or InvalidDataException)
        {
            throw new InvalidDataException($"'{path}' is not a TorchSharp weights file: {e.Message}", e);
        }
    }

    /// <summary>
    /// The supernet saved in <paramref name="path"/>, built over <paramref name="space"/> and loaded. A block holds
    /// the candidates the file has weights for (and skip where the space allows it).
    /// </summary>
    public static SuperNet Open(ArchitectureSpace space, string path)
    {
        var shapes = ReadShapes(path).ToDictionary(t => t.Name, t => t.Shape);
        var entangled = shapes.Keys.Any(k => k.Contains(".shared.", StringComparison.Ordinal));
        var sharing = entangled ? WeightSharing.Entangled : WeightSharing.Independent;
        var normPerCandidate = entangled && shapes.Keys.Any(k => k.Contains(".norms.", StringComparison.Ordinal));
        var style = space.Skeleton.Style;
        var kernelsApart = KernelsApart(space, shapes.Keys);
        bool Holds(BlockSpec b, Operation op) => entangled
            ? shapes.Keys.Any(k => k.StartsWith(
                $"blocks.{b.Index}.shared.{ChoiceBlock.FamilyName(style, op, kernelsApart.Contains(b.Index))}.",
                StringComparison.Ordinal))
            : shapes.Keys.Any(k => k.StartsWith($"blocks.{b.Index}.ops.{op}.", StringComparison.Ordinal));
        var options = space.Blocks.Select(b => (IReadOnlyList<Operation>)space.Candidates[b.Index]
            .Where(op => op.IsSkip || Holds(b, op)).ToArray()).ToArray();
        var empty = space.Blocks.FirstOrDefault(b => options[b.Index].Count == 0);
        if (empty is not null)
            throw new InvalidDataException($"'{path}' holds no weights for vital block {empty.Index}: " +
                $"it is not a supernet of '{space.Skeleton.Name}'");
        var countSteps = shapes.Keys.Any(k => k.EndsWith(".steps", StringComparison.Ordinal));
        var net = new SuperNet(space, options, sharing, countSteps, normPerCandidate: normPerCandidate,
            kernelsApart: kernelsApart);
        try
        {
            var expected = net.state_dict();
            foreach (var (name, tensor) in expected)
            {
                if (!shapes.TryGetValue(name, out var shape))
                    throw new InvalidDataException(
                        $"'{path}' has no tensor '{name}': it is not a supernet of '{space.Skeleton.Name}'");
                if (!shape.SequenceEqual(tensor.shape))
                    throw new InvalidDataException(
                        $"'{path}' does not fit preset '{space.Skeleton.Name}': " +
                        $"tensor '{name}' is [{string.Join(", ", shape)}] there, " +
                        $"[{string.Join(", ", tensor.shape)}] in this preset");
            }
            var extra = shapes.Keys.FirstOrDefault(k => !expected.ContainsKey(k));
            if (extra is not null)
                throw new InvalidDataException(
                    $"'{path}' has tensor '{extra}', which no network of '{space.Skeleton.Name}' has");
            net.load(path);
            return net;
        }
        catch
        {
            net.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The blocks of the supernet saved in <paramref name="path"/> that hold their kernels apart, from the file's
    /// headers alone (nothing is built or loaded).
    /// </summary>
    public static IReadOnlySet<int> KernelsApart(ArchitectureSpace space, string path) =>
        KernelsApart(space, ReadShapes(path).Select(t => t.Name));

    /// <summary>
    /// A block keeps its kernels apart when its families are named by kernel (<see cref="ChoiceBlock.FamilyName"/>).
    /// </summary>
    private static HashSet<int> KernelsApart(ArchitectureSpace space, IEnumerable<string> names)
    {
        var all = names.ToArray();
        return space.Blocks.Where(b => all.Any(k =>
                k.StartsWith($"blocks.{b.Index}.shared.", StringComparison.Ordinal)
                && k.Split('.')[3].Contains("_k", StringComparison.Ordinal)))
            .Select(b => b.Index).ToHashSet();
    }

    /// <summary>An unsigned LEB128 number, as TorchSharp writes counts, types and dimensions.</summary>
    private static long Leb128(BinaryReader reader)
    {
        long value = 0;
        for (var shift = 0; shift < 63; shift += 7)
        {
            var b = reader.ReadByte();
            value |= (long)(b & 0x7f) << shift;
            if ((b & 0x80) == 0) return value;
        }
        throw new InvalidDataException("a number in the header is longer than 9 bytes");
    }

    private static long ElementSize(ScalarType type, string name) => type switch
    {
        ScalarType.Byte or ScalarType.Int8 or ScalarType.Bool => 1,
        ScalarType.Int16 or ScalarType.Float16 or ScalarType.BFloat16 => 2,
        ScalarType.Int32 or ScalarType.Float32 => 4,
        ScalarType.Int64 or ScalarType.Float64 or ScalarType.ComplexFloat32 => 8,
        ScalarType.ComplexFloat64 => 16,
        _ => throw new InvalidDataException($"tensor '{name}' has an unknown element type {(int)type}"),
    };
}
