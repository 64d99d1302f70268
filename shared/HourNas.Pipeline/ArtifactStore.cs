namespace HourNas.Pipeline;

/// <summary>
/// The artifact folder: <c>&lt;root&gt;/&lt;experiment&gt;/&lt;stage&gt;/…</c>. Messages carry paths relative to the
/// root; every path that comes from outside is resolved here and must stay under the root.
/// </summary>
public sealed class ArtifactStore
{
    public ArtifactStore(string root)
    {
        Root = Path.GetFullPath(root);
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }

    /// <summary>
    /// Experiment ids name folders: letters, digits, '-', '_' and '.', at most 64, not starting with '.'.
    /// </summary>
    public static string CheckExperimentId(string id)
    {
        if (string.IsNullOrEmpty(id) || id.Length > 64 || id[0] == '.'
            || !id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw new ArgumentException(
                $"invalid experiment id '{id}': use 1-64 letters, digits, '-', '_' or '.', not starting with '.'");
        return id;
    }

    public string ExperimentFolder(string experimentId) => Path.Combine(Root, CheckExperimentId(experimentId));

    public string StageFolder(string experimentId, string stage) => Path.Combine(ExperimentFolder(experimentId), stage);

    /// <summary>The path relative to the root, as messages carry it.</summary>
    public string Relative(string fullPath)
    {
        var relative = Path.GetRelativePath(Root, Path.GetFullPath(fullPath));
        if (relative.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relative))
            throw new ArgumentException($"'{fullPath}' is outside the artifact root {Root}");
        return relative.Replace(Path.DirectorySeparatorChar, '/');
    }

    /// <summary>
    /// Resolves a relative artifact path; throws <see cref="UnauthorizedAccessException"/> if it escapes the root.
    /// </summary>
    public string Resolve(string relativePath) => ResolveUnder(Root, relativePath, "the artifact root");

    /// <summary>Resolves a path relative to one experiment's folder; it must stay inside that folder.</summary>
    public string ResolveInExperiment(string experimentId, string relativePath) =>
        ResolveUnder(ExperimentFolder(experimentId), relativePath, $"experiment '{experimentId}'");

    private static string ResolveUnder(string folder, string relativePath, string what)
    {
        if (Path.IsPathRooted(relativePath))
            throw new UnauthorizedAccessException($"artifact path '{relativePath}' must be relative to {what}");
        var full = Path.GetFullPath(Path.Combine(folder, relativePath));
        if (!full.StartsWith(folder + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new UnauthorizedAccessException($"artifact path '{relativePath}' leaves {what}");
        // A symbolic link inside the folder must not lead out of it either.
        if (!FileSystemPaths.IsInside(FileSystemPaths.RealPath(full), FileSystemPaths.RealPath(folder)))
            throw new UnauthorizedAccessException($"artifact path '{relativePath}' leads out of {what}");
        return full;
    }

    /// <summary>
    /// Every file of an experiment, relative to the root; symbolic links are not followed nor listed.
    /// </summary>
    public IReadOnlyList<string> List(string experimentId)
    {
        var folder = ExperimentFolder(experimentId);
        if (!Directory.Exists(folder)) return [];
        var files = new EnumerationOptions
        {
            RecurseSubdirectories = true,
            AttributesToSkip = FileAttributes.ReparsePoint,
        };
        return Directory.EnumerateFiles(folder, "*", files).Select(Relative).Order(StringComparer.Ordinal).ToArray();
    }
}
