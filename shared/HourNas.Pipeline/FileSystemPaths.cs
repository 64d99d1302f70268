namespace HourNas.Pipeline;

/// <summary>Paths as the operating system follows them, for checks that a path stays inside a folder.</summary>
public static class FileSystemPaths
{
    private const int MaxLinks = 40;

    /// <summary>
    /// The absolute path with every symbolic link of every component resolved, as realpath(3) does (a missing tail
    /// is kept as written). ".." after a link goes to the link target's parent, as the OS would.
    /// </summary>
    public static string RealPath(string absolutePath)
    {
        var links = 0;
        return Resolve(absolutePath, ref links);
    }

    /// <summary>
    /// Whether <paramref name="path"/> is <paramref name="folder"/> or lies under it (both real paths).
    /// </summary>
    public static bool IsInside(string path, string folder) =>
        path == folder || path.StartsWith(folder.TrimEnd('/') + "/", StringComparison.Ordinal);

    private static string Resolve(string absolutePath, ref int links)
    {
        var root = Path.GetPathRoot(absolutePath) ?? "/";
        var current = root;
        foreach (var part in absolutePath[root.Length..].Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".") continue;
            // current is already real, so its parent is the one the OS would take.
            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? root;
                continue;
            }
            var next = Path.Combine(current, part);
            var target = new FileInfo(next).LinkTarget;
            if (target is not null)
            {
                if (++links > MaxLinks) throw new ArgumentException($"'{absolutePath}': too many symbolic links");
                next = Resolve(Path.IsPathRooted(target) ? target : Path.Combine(current, target), ref links);
            }
            current = next;
        }
        return current;
    }
}
