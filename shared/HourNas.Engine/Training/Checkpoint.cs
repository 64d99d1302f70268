using System.Text.Json;
using HourNas.Engine.Networks;
using TorchSharp.Modules;

namespace HourNas.Engine.Training;

/// <summary>
/// End-of-epoch checkpoint in a folder: weights, optimizer state (momentum buffers) and a JSON file with the
/// position (epochs done, images seen, seconds). The random streams of epoch e are derived from (seed, e), so
/// the position is all the random state a resume needs. Written to a temporary folder and renamed, so a crash
/// mid-write leaves the previous checkpoint intact.
/// </summary>
public static class Checkpoint
{
    public sealed record State(
        string Stage, ulong Seed, int EpochsDone, long ImagesSeen, double Seconds, string Network);

    private const string WeightsFile = "weights.dat", OptimizerFile = "optimizer.dat", StateFile = "state.json",
        AverageFile = "weight-average.dat";

    public static void Save(string folder, SuperNet net, OptimizerHelper optimizer, State state,
        WeightAverage? average = null)
    {
        var temp = folder + ".writing";
        if (Directory.Exists(temp)) Directory.Delete(temp, true);
        Directory.CreateDirectory(temp);
        net.save(Path.Combine(temp, WeightsFile));
        optimizer.save_state_dict(Path.Combine(temp, OptimizerFile));
        average?.save(Path.Combine(temp, AverageFile));
        File.WriteAllText(Path.Combine(temp, StateFile), JsonSerializer.Serialize(state));
        var old = folder + ".old";
        if (Directory.Exists(old)) Directory.Delete(old, true);
        if (Directory.Exists(folder)) Directory.Move(folder, old);
        Directory.Move(temp, folder);
        if (Directory.Exists(old)) Directory.Delete(old, true);
    }

    /// <summary>Restores weights and optimizer when a checkpoint of the same stage, seed and network exists.</summary>
    public static State? TryLoad(string folder, SuperNet net, OptimizerHelper optimizer, string stage, ulong seed,
        string network)
    {
        var path = Path.Combine(folder, StateFile);
        if (!File.Exists(path)) return null;
        var state = JsonSerializer.Deserialize<State>(File.ReadAllText(path))
            ?? throw new InvalidDataException($"{path}: empty checkpoint state");
        if (state.Stage != stage || state.Seed != seed || state.Network != network)
            throw new InvalidDataException(
                $"{folder}: checkpoint is of stage '{state.Stage}', seed {state.Seed}, network {state.Network}; " +
                $"this run is '{stage}', seed {seed}, network {network}");
        net.load(Path.Combine(folder, WeightsFile));
        optimizer.load_state_dict(Path.Combine(folder, OptimizerFile));
        return state;
    }

    /// <summary>Restores the weight average of a checkpoint (a run whose settings ask for one).</summary>
    public static void LoadAverage(string folder, WeightAverage average)
    {
        var path = Path.Combine(folder, AverageFile);
        if (!File.Exists(path))
            throw new InvalidDataException(
                $"{folder}: the checkpoint has no weight average, but this run averages its weights " +
                $"(decay {average.Decay}); resume with the settings it was started with");
        average.load(path);
    }
}
