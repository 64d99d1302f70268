namespace HourNas.SearchSpace;

/// <summary>
/// The macro graph of a network seen as an ensemble of paths: nodes are feature maps (node 0 is the stem
/// output, node n the input of the head), every block is an edge, every identity shortcut is a parallel
/// edge. A block is <em>vital</em> when every input-to-output path uses its edge: the hourglass neck.
/// </summary>
public sealed class BlockGraph
{
    private readonly List<Edge> _edges = [];

    public BlockGraph(int blockCount)
    {
        if (blockCount < 1) throw new SearchSpaceException("a block graph needs at least one block");
        BlockCount = blockCount;
        for (var b = 0; b < blockCount; b++) _edges.Add(new Edge(b, b + 1, b));
    }

    public int BlockCount { get; }

    public int NodeCount => BlockCount + 1;

    public IReadOnlyList<Edge> Edges => _edges;

    /// <summary>
    /// An edge from feature map <paramref name="From"/> to <paramref name="To"/>; Block is null for a shortcut.
    /// </summary>
    public readonly record struct Edge(int From, int To, int? Block);

    /// <summary>
    /// The graph of a skeleton: one edge per block, plus the identity shortcut of every block that has one.
    /// </summary>
    public static BlockGraph FromBlocks(IReadOnlyList<BlockSpec> blocks)
    {
        var graph = new BlockGraph(blocks.Count);
        foreach (var b in blocks.Where(b => b.HasIdentityShortcut)) graph.AddShortcut(b.Index, b.Index + 1);
        return graph;
    }

    /// <summary>
    /// Adds a shortcut from the input of block <paramref name="fromNode"/> to the input of block
    /// <paramref name="toNode"/>.
    /// </summary>
    public BlockGraph AddShortcut(int fromNode, int toNode)
    {
        if (fromNode < 0 || toNode > BlockCount || fromNode >= toNode)
            throw new SearchSpaceException(
                $"shortcut {fromNode}->{toNode} must go forward between feature maps 0..{BlockCount}");
        _edges.Add(new Edge(fromNode, toNode, null));
        return this;
    }

    /// <summary>Whether <paramref name="block"/> lies on every path from input to output.</summary>
    public bool IsVital(int block) => !Reaches(0, BlockCount, skipBlock: block);

    /// <summary>Indices of all vital blocks, ascending.</summary>
    public IReadOnlyList<int> VitalBlocks() => Enumerable.Range(0, BlockCount).Where(IsVital).ToArray();

    /// <summary>
    /// Number of distinct input-to-output paths (the ensemble size), as a double since it grows as 2^shortcuts.
    /// </summary>
    public double PathCount()
    {
        var paths = new double[NodeCount];
        paths[0] = 1;
        foreach (var e in _edges.OrderBy(e => e.From)) paths[e.To] += paths[e.From];
        return paths[BlockCount];
    }

    private bool Reaches(int source, int target, int skipBlock)
    {
        var seen = new bool[NodeCount];
        var stack = new Stack<int>();
        stack.Push(source);
        seen[source] = true;
        while (stack.Count > 0)
        {
            var node = stack.Pop();
            if (node == target) return true;
            foreach (var e in _edges)
            {
                if (e.From != node || e.Block == skipBlock || seen[e.To]) continue;
                seen[e.To] = true;
                stack.Push(e.To);
            }
        }
        return false;
    }
}
