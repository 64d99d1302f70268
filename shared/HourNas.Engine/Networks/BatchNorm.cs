using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HourNas.Engine.Networks;

/// <summary>
/// BatchNorm over channels with PyTorch's parameter and buffer names (weight, bias, running_mean, running_var,
/// num_batches_tracked), so checkpoints and the PyTorch export load strictly. Ours rather than TorchSharp's
/// BatchNorm2d: that one increments num_batches_tracked with a temporary Scalar on every training forward, and in
/// long runs here that call failed at random ("Unknown scalar type", "alpha must not be a floating point number"),
/// consistent with the temporary being finalized during the native call. With a momentum always set, the counter
/// is not needed, so this module never touches it.
/// </summary>
public sealed class BatchNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter bias;
    private readonly Tensor running_mean;
    private readonly Tensor running_var;
    private readonly Tensor num_batches_tracked;

    /// <summary>PyTorch's default, used by every network here (and written into the ONNX export).</summary>
    public const double DefaultEps = 1e-5;

    public BatchNorm(long channels, double eps = DefaultEps) : base(nameof(BatchNorm))
    {
        Eps = eps;
        weight = new Parameter(ones(channels));
        bias = new Parameter(zeros(channels));
        running_mean = zeros(channels);
        running_var = ones(channels);
        num_batches_tracked = tensor(0L);
        register_parameter(nameof(weight), weight);
        register_parameter(nameof(bias), bias);
        register_buffer(nameof(running_mean), running_mean);
        register_buffer(nameof(running_var), running_var);
        register_buffer(nameof(num_batches_tracked), num_batches_tracked);
    }

    public double Eps { get; }

    /// <summary>Weight of the current batch in the running statistics (PyTorch's momentum).</summary>
    public double Momentum { get; set; } = 0.1;

    public Tensor RunningMean => running_mean;

    public void ResetRunningStatistics()
    {
        using var _ = no_grad();
        running_mean.zero_();
        running_var.fill_(1.0);
    }

    public override Tensor forward(Tensor x) =>
        nn.functional.batch_norm(x, running_mean, running_var, weight, bias, training, Momentum, Eps);

    /// <summary>
    /// Normalises an input holding only the first <paramref name="channels"/> channels (a weight-entangled
    /// supernet's narrower candidate): the parameters and running statistics of those channels, updated in place.
    /// </summary>
    public Tensor Forward(Tensor x, long channels)
    {
        if (channels == weight.shape[0]) return forward(x);
        using var scope = NewDisposeScope();
        return nn.functional.batch_norm(x, running_mean.narrow(0, 0, channels), running_var.narrow(0, 0, channels),
            weight.narrow(0, 0, channels), bias.narrow(0, 0, channels), training, Momentum, Eps)
            .MoveToOuterDisposeScope();
    }
}
