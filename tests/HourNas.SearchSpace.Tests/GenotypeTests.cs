using HourNas.SearchSpace;

namespace HourNas.SearchSpace.Tests;

public class GenotypeTests
{
    private static readonly ArchitectureSpace Imagenet = new(Presets.Skeleton("imagenet"));

    [Fact]
    public void Text_and_json_round_trip()
    {
        var g = Presets.Resolve("imagenet", "hournas-f").Genotype;
        Assert.Equal(g, Genotype.Parse(g.ToString()));
        var (back, preset) = Genotype.FromJson(g.ToJson("imagenet"), "test");
        Assert.Equal(g, back);
        Assert.Equal("imagenet", preset);
        Assert.Equal(22, g.Blocks.Count);
    }

    [Fact]
    public void Every_named_genotype_is_valid_for_its_preset()
    {
        foreach (var named in Presets.Genotypes)
        {
            var (space, g) = Presets.Resolve(named.Preset, named.Name);
            Assert.Equal(space.Blocks.Count, g.Blocks.Count);
        }
    }

    [Fact]
    public void Wrong_block_count_names_the_stage()
    {
        var e = Assert.Throws<SearchSpaceException>(() =>
            Imagenet.Parse("k3e1 | k5e6 k5e1 k5e1 | k5e6 k5e1 k3e1 k5e1 | k5e6 k3e6 k3e6 k3e6 | " +
                "k5e6 k5e3 k5e3 k5e3 | k5e6 k5e6 k3e6 k5e6 | k5e6"));
        Assert.Contains("stage 2 has 3 blocks", e.Message);
        Assert.Contains("has 4 there", e.Message);
    }

    [Fact]
    public void Wrong_stage_count_is_an_error()
    {
        var e = Assert.Throws<SearchSpaceException>(() => Imagenet.Parse("k3e1 | k5e6 k5e1 k5e1 k3e1"));
        Assert.Contains("2 stages", e.Message);
    }

    [Fact]
    public void Unknown_operation_names_its_position()
    {
        var e = Assert.Throws<SearchSpaceException>(() => Genotype.Parse("k3e1 | k5e6 conv3 skip"));
        Assert.Contains("stage 2, position 2", e.Message);
        Assert.Contains("'conv3'", e.Message);
    }

    [Fact]
    public void Skip_on_a_vital_block_is_rejected()
    {
        var e = Assert.Throws<SearchSpaceException>(() =>
            Imagenet.Parse("k3e1 | skip k5e1 k5e1 k3e1 | k5e6 k5e1 k3e1 k5e1 | k5e6 k3e6 k3e6 k3e6 | " +
                "k5e6 k5e3 k5e3 k5e3 | k5e6 k5e6 k3e6 k5e6 | k5e6"));
        Assert.Contains("block 1", e.Message);
        Assert.Contains("vital", e.Message);
    }

    [Fact]
    public void Operation_outside_the_candidate_set_is_rejected()
    {
        var space = new ArchitectureSpace(TinySpaces.Tiny);
        var e = Assert.Throws<SearchSpaceException>(() => space.Parse("k3e1 k3e3 k7e6 | k3e1 skip"));
        Assert.Contains("block 2", e.Message);
        Assert.Contains("'k7e6' is not among its candidates k3e1, k3e3, k5e3, skip", e.Message);
    }

    [Fact]
    public void Named_genotype_for_another_preset_is_rejected()
    {
        var e = Assert.Throws<SearchSpaceException>(() => Presets.Resolve("imagenet", "mobilenetv2"));
        Assert.Contains("belongs to preset 'mobilenetv2'", e.Message);
    }

    [Fact]
    public void Ambiguous_named_genotype_asks_for_the_preset()
    {
        var e = Assert.Throws<SearchSpaceException>(() => Presets.Resolve(null, "manual"));
        Assert.Contains("--preset", e.Message);
    }

    [Fact]
    public void Unknown_preset_lists_the_known_ones()
    {
        var e = Assert.Throws<SearchSpaceException>(() => Presets.Skeleton("imagenet-21k"));
        Assert.Contains("fashion-mnist", e.Message);
    }

    [Fact]
    public void Malformed_skeleton_file_names_the_file_and_problem()
    {
        var path = Path.Combine(Path.GetTempPath(), $"hournas-skel-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(path,
                Presets.Skeleton("fashion-mnist").ToJson().Replace("\"maxDepth\": 3", "\"maxDepth\": 0"));
            var e = Assert.Throws<SearchSpaceException>(() => Presets.Skeleton(path));
            Assert.Contains(path, e.Message);
            Assert.Contains("maxDepth must be at least 1", e.Message);

            File.WriteAllText(path, "{ \"name\": \"x\", \"inputSize\": ");
            e = Assert.Throws<SearchSpaceException>(() => Presets.Skeleton(path));
            Assert.Contains("not a valid skeleton", e.Message);

            File.WriteAllText(path,
                Presets.Skeleton("fashion-mnist").ToJson().Replace("\"headWidth\"", "\"headWidht\""));
            e = Assert.Throws<SearchSpaceException>(() => Presets.Skeleton(path));
            Assert.Contains("headWidht", e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_skeleton_file_round_trips_and_is_usable()
    {
        var path = Path.Combine(Path.GetTempPath(), $"hournas-skel-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(path, Presets.Skeleton("cifar10").ToJson());
            var loaded = Presets.Skeleton(path);
            Assert.Equal(Presets.Skeleton("cifar10").ToJson(), loaded.ToJson());
            var (_, g) = Presets.Resolve(path, "manual");
            Assert.Equal(14, g.Blocks.Count);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
