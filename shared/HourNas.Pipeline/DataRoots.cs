using HourNas.SearchSpace;

namespace HourNas.Pipeline;

/// <summary>
/// Where a spec's dataset may come from: the folder, with every symbolic link on its way resolved, must lie under
/// one of the configured roots (themselves resolved). A spec from the network never names a server path outside
/// them; the coordinator checks at submission, each worker again before it opens the folder.
/// </summary>
public sealed class DataRoots
{
    public const int MaxPathLength = 4096;

    private readonly string[] _roots;

    public DataRoots(IEnumerable<string> roots) =>
        _roots = roots.Select(r => FileSystemPaths.RealPath(Path.GetFullPath(r))).Distinct().ToArray();

    public IReadOnlyList<string> Roots => _roots;

    /// <summary>
    /// The real path of the dataset folder <paramref name="data"/>, checked: under a root, a folder, and holding a
    /// dataset format the loaders know. Throws <see cref="ArgumentException"/> naming the problem.
    /// </summary>
    public string Confine(string data)
    {
        if (string.IsNullOrWhiteSpace(data)) throw new ArgumentException("the data folder is empty");
        if (data.Length > MaxPathLength)
            throw new ArgumentException(
                $"the data folder's path is {data.Length:N0} characters; at most {MaxPathLength:N0}");
        if (!Path.IsPathRooted(data)) throw new ArgumentException($"data folder '{data}' must be an absolute path");
        // ".." after a link means the link's parent to the OS but the lexical parent to GetFullPath: refuse it.
        if (data.Split('/', '\\').Contains(".."))
            throw new ArgumentException($"data folder '{data}' must not contain '..'");
        var real = FileSystemPaths.RealPath(Path.GetFullPath(data));
        if (!_roots.Any(root => FileSystemPaths.IsInside(real, root)))
            throw new ArgumentException(
                $"data folder '{data}' is outside the data roots ({string.Join(", ", _roots)}); an operator adds " +
                "roots with HourNas:DataRoots");
        if (!Directory.Exists(real)) throw new ArgumentException($"data folder '{data}' does not exist");
        if (DatasetLayouts.KindOf(real) is null)
            throw new ArgumentException($"data folder '{data}' holds none of {DatasetLayouts.Known}");
        return real;
    }
}
