using HourNas.Engine.Training;
using HourNas.SearchSpace;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HourNas.Engine.Networks;

/// <summary>
/// A network over an architecture space: stem, one <see cref="ChoiceBlock"/> per skeleton block, 1x1 head conv,
/// global pooling, classifier. Each block holds the options it is given, so one class is every network HourNAS
/// trains: the full supernet (all candidates), the vital supernet (non-vital blocks are skip only), the stage-2
/// supernet (vital blocks fixed, bulbs shrunk) and a child network (one option per block). A path picks one
/// option per block. A supernet's candidates hold independent or entangled weights (<see cref="WeightSharing"/>);
/// a child's are always independent, so retraining and export see one layout. An entangled supernet's candidates
/// can also have BatchNorms of their own (<see cref="NormPerCandidate"/>).
/// </summary>
public sealed class SuperNet : nn.Module<Tensor, Tensor>
{
    private readonly Sequential stem;
    private readonly ModuleList<ChoiceBlock> blocks;
    private readonly Sequential head;
    private readonly Linear classifier;
    // Dropout's own generator, not libtorch's global one: the trainer seeds it every step from (seed, epoch, step),
    // so a resumed run draws the same masks, and other stages seeding or drawing in the same process change nothing.
    private readonly Generator? _dropoutRandom;

    public SuperNet(ArchitectureSpace space, IReadOnlyList<IReadOnlyList<Operation>> options,
        WeightSharing sharing = WeightSharing.Independent, bool countSteps = false, double dropout = 0,
        bool normPerCandidate = false, IReadOnlySet<int>? kernelsApart = null) : base(nameof(SuperNet))
    {
        // Initial weights come from libtorch's global generator: held, so a seeded build elsewhere is not shifted.
        lock (TorchRuntime.GlobalRandom)
        {
            if (dropout is < 0 or >= 1 || !double.IsFinite(dropout))
                throw new ArgumentException($"dropout must be in [0, 1), got {dropout}", nameof(dropout));
            Dropout = dropout;
            if (dropout > 0) _dropoutRandom = new Generator(0);
            if (options.Count != space.Blocks.Count)
                throw new ArgumentException($"expected options for {space.Blocks.Count} blocks, got {options.Count}",
                    nameof(options));
            Space = space;
            Sharing = sharing;
            NormPerCandidate = normPerCandidate && sharing != WeightSharing.Independent;
            if (kernelsApart?.Where(b => b < 0 || b >= space.Blocks.Count).Select(b => (int?)b).FirstOrDefault()
                is { } unknown)
                throw new ArgumentException($"kernels apart in block {unknown}, which '{space.Skeleton.Name}' " +
                    $"does not have (blocks 0-{space.Blocks.Count - 1})", nameof(kernelsApart));
            KernelsApart = sharing == WeightSharing.Independent || kernelsApart is null
                ? new HashSet<int>()
                : kernelsApart.ToHashSet();
            var s = space.Skeleton;
            stem = Layers.ConvBn(s.InputChannels, s.Stem.Width, 3, s.Stem.Stride, 1, s.Style.Activation);
            blocks = new ModuleList<ChoiceBlock>(space.Blocks.Select(b => new ChoiceBlock(b, options[b.Index],
                space.Candidates[b.Index], s.Style, sharing, countSteps, NormPerCandidate,
                KernelsApart.Contains(b.Index))).ToArray());
            head = Layers.ConvBn(s.FinalWidth, s.HeadWidth, 1, 1, 1, s.Style.Activation);
            classifier = nn.Linear(s.HeadWidth, s.Classes);
            RegisterComponents();
        }
    }

    public ArchitectureSpace Space { get; }

    /// <summary>Dropout before the classifier while training (stand-alone networks: the preset's recipe).</summary>
    public double Dropout { get; }

    /// <summary>Seeds the dropout masks of the next training forwards (nothing to seed without dropout).</summary>
    public void SeedDropout(ulong seed) => _dropoutRandom?.manual_seed(unchecked((long)seed));

    protected override void Dispose(bool disposing)
    {
        if (disposing) _dropoutRandom?.Dispose();
        base.Dispose(disposing);
    }

    public WeightSharing Sharing { get; }

    /// <summary>Whether each entangled candidate normalises with BatchNorms of its own.</summary>
    public bool NormPerCandidate { get; }

    /// <summary>
    /// The blocks whose entangled candidates hold each kernel size's weights apart (<see cref="ChoiceBlock"/>); empty
    /// with independent weights.
    /// </summary>
    public IReadOnlySet<int> KernelsApart { get; }

    public IReadOnlyList<ChoiceBlock> Blocks => blocks.ToArray();

    /// <summary>The options of every block (the space this network can run).</summary>
    public IReadOnlyList<IReadOnlyList<Operation>> Options => blocks.Select(b => b.Options).ToArray();

    /// <summary>Every candidate of the space in every block.</summary>
    public static SuperNet Full(ArchitectureSpace space, WeightSharing sharing = WeightSharing.Independent,
        bool normPerCandidate = false, IReadOnlySet<int>? kernelsApart = null) =>
        new(space, space.Candidates, sharing, countSteps: true, normPerCandidate: normPerCandidate,
            kernelsApart: kernelsApart);

    /// <summary>
    /// Stage 1's network: the vital blocks with all their candidates, every non-vital block removed (skip).
    /// </summary>
    public static SuperNet Vital(ArchitectureSpace space, WeightSharing sharing = WeightSharing.Independent,
        bool normPerCandidate = false, IReadOnlySet<int>? kernelsApart = null) =>
        new(space,
            space.Blocks.Select(b => space.IsVital[b.Index] ? space.Candidates[b.Index] : [Operation.Skip]).ToArray(),
            sharing, countSteps: true, normPerCandidate: normPerCandidate, kernelsApart: kernelsApart);

    /// <summary>The supernet over a shrunk space (fixed blocks have one option).</summary>
    public static SuperNet Shrunk(ShrunkSpace shrunk, WeightSharing sharing = WeightSharing.Independent) =>
        new(shrunk.Space, shrunk.Allowed, sharing, countSteps: true);

    /// <summary>
    /// A stand-alone network for one genotype, with the preset recipe's dropout before the classifier (supernets
    /// train without: a path's few steps need no more noise).
    /// </summary>
    public static SuperNet Child(ArchitectureSpace space, Genotype genotype)
    {
        space.Validate(genotype);
        return new SuperNet(space, genotype.Blocks.Select(op => (IReadOnlyList<Operation>)[op]).ToArray(),
            dropout: space.Skeleton.Recipe?.Dropout ?? 0);
    }

    /// <summary>Activates one option per block (indices into each block's options).</summary>
    public void SetPath(IReadOnlyList<int> choice)
    {
        if (choice.Count != blocks.Count)
            throw new ArgumentException($"path has {choice.Count} entries for {blocks.Count} blocks");
        for (var b = 0; b < blocks.Count; b++)
        {
            if (choice[b] < 0 || choice[b] >= blocks[b].Options.Count)
                throw new ArgumentOutOfRangeException(nameof(choice),
                    $"block {b}: option {choice[b]} of {blocks[b].Options.Count}");
            blocks[b].Active = choice[b];
        }
    }

    /// <summary>
    /// The network's own parameter and buffer tensors by name (not copies): what a weight average follows and a
    /// temporary fine-tuning restores.
    /// </summary>
    public IEnumerable<(string Name, Tensor Tensor)> LiveState() =>
        named_parameters().Select(p => (p.name, (Tensor)p.parameter)).Concat(named_buffers());

    /// <summary>Activates the operations of a genotype; each must be one of its block's options.</summary>
    public void SetPath(Genotype genotype) => SetPath(PathOf(genotype));

    /// <summary>
    /// The path (option index per block) of a genotype; each operation must be one of its block's options.
    /// </summary>
    public int[] PathOf(Genotype genotype) => genotype.Blocks.Select((op, b) =>
    {
        var i = ChoiceBlock.IndexOf(blocks[b].Options, op);
        return i >= 0
            ? i
            : throw new SearchSpaceException(
                $"block {b}: '{op}' is not an option of this network ({string.Join(", ", blocks[b].Options)})");
    }).ToArray();

    /// <summary>The genotype of the active path.</summary>
    public Genotype ActiveGenotype => Space.FromBlocks(blocks.Select(b => b.ActiveOperation).ToArray());

    /// <summary>Parameters on the active path (stem, active operations, head, classifier).</summary>
    public IEnumerable<Parameter> ActiveParameters() =>
        stem.parameters().Concat(blocks.SelectMany(b => b.ActiveParameters()))
            .Concat(head.parameters()).Concat(classifier.parameters());

    /// <summary>
    /// Why this network cannot score <paramref name="genotype"/> with trained weights, or null when it can: the first
    /// block that cannot run its operation (<see cref="ChoiceBlock.WhyUntrained"/>), named.
    /// </summary>
    public string? CannotRun(Genotype genotype)
    {
        for (var b = 0; b < blocks.Count; b++)
            if (blocks[b].WhyUntrained(genotype.Blocks[b]) is { } why) return $"block {b}: {why}";
        return null;
    }

    /// <summary>Counts one training step of the active path in every block that counts steps.</summary>
    public void CountStep()
    {
        foreach (var block in blocks) block.CountStep();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = stem.call(x);
        foreach (var block in blocks) y = block.call(y);
        y = head.call(y);
        y = nn.functional.adaptive_avg_pool2d(y, 1).flatten(1);
        if (_dropoutRandom is not null && training)
        {
            // Inverted dropout, as nn.functional.dropout does it, with masks drawn on the CPU generator.
            var keep = rand(y.shape, generator: _dropoutRandom).ge_(Dropout).to(y.dtype).to(y.device);
            y = y * keep / (1 - Dropout);
        }
        return classifier.call(y).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Weight inheritance: copies every parameter and buffer whose name and shape match from <paramref name="source"/>
    /// (e.g. the vital supernet into the stage-2 supernet, or a supernet into a child). Returns how many tensors were
    /// copied.
    /// </summary>
    public int InheritFrom(SuperNet source)
    {
        var from = source.state_dict();
        var copied = 0;
        using var _ = no_grad();
        foreach (var (name, tensor) in state_dict())
        {
            if (!from.TryGetValue(name, out var src) || !src.shape.SequenceEqual(tensor.shape)) continue;
            tensor.copy_(src);
            copied++;
        }
        return copied;
    }
}
