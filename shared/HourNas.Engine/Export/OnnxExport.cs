using System.Globalization;
using System.Runtime.InteropServices;
using Google.Protobuf;
using HourNas.Engine.Data;
using HourNas.Engine.Networks;
using HourNas.SearchSpace;
using Onnx;
using static TorchSharp.torch;

namespace HourNas.Engine.Export;

/// <summary>
/// Writes a stand-alone network as an ONNX model (opset 13) that takes raw pixels: input <c>pixels</c>
/// (N x C x H x W floats in [0, 1]), first operations subtract the training mean and divide by the training std,
/// output <c>logits</c> (N x classes). Built from the network's own structure (the genotype over the skeleton) and
/// its state dict by name, so the file holds exactly the weights TorchSharp runs. BatchNorm stays a
/// BatchNormalization node (inference mode) rather than folded into the convolution: the same arithmetic as
/// TorchSharp's, and a runtime folds it anyway.
/// </summary>
public static class OnnxExport
{
    public const int Opset = 13;

    public const string InputName = "pixels";

    public const string OutputName = "logits";

    /// <summary>Writes <paramref name="net"/>'s active path to <paramref name="path"/>.</summary>
    public static void Write(SuperNet net, Normalization normalization, string path, string? preset = null)
    {
        var model = Build(net, normalization, preset);
        var temp = path + ".tmp";
        File.WriteAllBytes(temp, model.ToByteArray());
        File.Move(temp, path, overwrite: true);
    }

    public static ModelProto Build(SuperNet net, Normalization normalization, string? preset = null)
    {
        if (net.Sharing != WeightSharing.Independent)
            throw new ArgumentException("ONNX export needs a network with independent weights (a child network)",
                nameof(net));
        var skeleton = net.Space.Skeleton;
        if (normalization.Mean.Length != skeleton.InputChannels || normalization.Std.Length != skeleton.InputChannels)
            throw new ArgumentException(
                $"normalization has {normalization.Mean.Length} channels, the network takes {skeleton.InputChannels}",
                nameof(normalization));
        var genotype = net.ActiveGenotype;
        var weights = net.state_dict();
        var graph = new GraphBuilder(weights);
        graph.Input(InputName, skeleton.InputChannels, skeleton.InputSize);
        var c = skeleton.InputChannels;
        var x = graph.Node("Sub", [InputName, graph.Constant("input_mean", normalization.Mean, [1, c, 1, 1])]);
        x = graph.Node("Div", [x, graph.Constant("input_std", normalization.Std, [1, c, 1, 1])]);
        var style = skeleton.Style;
        x = graph.ConvBn(x, "stem", 3, skeleton.Stem.Stride, 1, style.Activation);
        foreach (var block in net.Space.Blocks)
        {
            var op = genotype.Blocks[block.Index];
            if (op.IsSkip) continue;
            var prefix = $"blocks.{block.Index}.ops.{op}";
            var y = x;
            var mid = block.InWidth * op.Expansion;
            if (CostModel.HasExpansion(style, op)) y = graph.ConvBn(y, $"{prefix}.expand", 1, 1, 1, style.Activation);
            y = graph.ConvBn(y, $"{prefix}.depthwise", op.Kernel, block.Stride, mid, style.Activation);
            if (style.SqueezeExcitation is not null)
            {
                var s = graph.Node("GlobalAveragePool", [y]);
                s = graph.Conv(s, $"{prefix}.se.reduce", 1, 1, 1, withBias: true);
                s = graph.Activation(s, style.Activation);
                s = graph.Conv(s, $"{prefix}.se.expand", 1, 1, 1, withBias: true);
                y = graph.Node("Mul", [y, graph.Node("Sigmoid", [s])]);
            }
            y = graph.ConvBn(y, $"{prefix}.project", 1, 1, 1, null);
            x = block.HasIdentityShortcut ? graph.Node("Add", [y, x]) : y;
        }
        x = graph.ConvBn(x, "head", 1, 1, 1, style.Activation);
        x = graph.Node("GlobalAveragePool", [x]);
        x = graph.Node("Flatten", [x], [Int("axis", 1)]);
        graph.Node("Gemm", [x, graph.Weight("classifier.weight"), graph.Weight("classifier.bias")],
            [Int("transB", 1)], output: OutputName);
        graph.Output(OutputName, skeleton.Classes);
        graph.CheckAllWeightsUsed();

        var model = new ModelProto
        {
            IrVersion = 7, // the IR version that goes with opset 13
            ProducerName = "hournas",
            ProducerVersion = typeof(OnnxExport).Assembly.GetName().Version?.ToString() ?? "",
            DocString = $"HourNAS network {genotype} ({preset ?? skeleton.Name})",
            Graph = graph.Graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        Metadata(model, "preset", preset ?? skeleton.Name);
        Metadata(model, "genotype", genotype.ToString());
        Metadata(model, "input_mean", Floats(normalization.Mean));
        Metadata(model, "input_std", Floats(normalization.Std));
        return model;
    }

    private static void Metadata(ModelProto model, string key, string value) =>
        model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });

    private static string Floats(float[] values) =>
        string.Join(",", values.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));

    private static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    private static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.Add(values);
        return a;
    }

    private static AttributeProto Float(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    /// <summary>Adds nodes and initializers; weights come from the state dict by name, each used once.</summary>
    private sealed class GraphBuilder(Dictionary<string, Tensor> weights)
    {
        private readonly HashSet<string> _used = [];
        private int _next;

        public GraphProto Graph { get; } = new() { Name = "hournas" };

        public void Input(string name, int channels, int size) =>
            Graph.Input.Add(Value(name, ["batch", channels, size, size]));

        public void Output(string name, int classes) => Graph.Output.Add(Value(name, ["batch", classes]));

        public string Node(string op, IEnumerable<string> inputs, IEnumerable<AttributeProto>? attributes = null,
            string? output = null)
        {
            output ??= $"t{_next}";
            var node = new NodeProto { OpType = op, Name = $"{op}_{_next++}" };
            node.Input.Add(inputs);
            node.Output.Add(output);
            if (attributes is not null) node.Attribute.Add(attributes);
            Graph.Node.Add(node);
            return output;
        }

        public string ConvBn(string x, string prefix, long kernel, long stride, long groups, Activation? activation)
        {
            x = Conv(x, $"{prefix}.conv", kernel, stride, groups, withBias: false);
            x = Node("BatchNormalization",
            [
                x, Weight($"{prefix}.bn.weight"), Weight($"{prefix}.bn.bias"), Weight($"{prefix}.bn.running_mean"),
                Weight($"{prefix}.bn.running_var"),
            ], [Float("epsilon", (float)BatchNorm.DefaultEps)]);
            _used.Add($"{prefix}.bn.num_batches_tracked");
            return activation is { } a ? Activation(x, a) : x;
        }

        public string Conv(string x, string prefix, long kernel, long stride, long groups, bool withBias)
        {
            var pad = kernel / 2;
            List<string> inputs = [x, Weight($"{prefix}.weight")];
            if (withBias) inputs.Add(Weight($"{prefix}.bias"));
            return Node("Conv", inputs,
            [
                Ints("kernel_shape", kernel, kernel), Ints("strides", stride, stride), Ints("pads", pad, pad, pad, pad),
                Int("group", groups),
            ]);
        }

        public string Activation(string x, Activation activation) => activation switch
        {
            SearchSpace.Activation.ReLU => Node("Relu", [x]),
            SearchSpace.Activation.ReLU6 => Node("Clip", [x, Constant($"zero{_next}", [0f], []),
                Constant($"six{_next}", [6f], [])]),
            SearchSpace.Activation.Swish => Node("Mul", [x, Node("Sigmoid", [x])]),
            _ => throw new ArgumentOutOfRangeException(nameof(activation), activation, null),
        };

        /// <summary>An initializer from the state dict, by its name there.</summary>
        public string Weight(string name)
        {
            if (!weights.TryGetValue(name, out var tensor)) throw Missing(name);
            if (_used.Add(name))
            {
                using var cpu = tensor.detach().cpu().to(ScalarType.Float32).contiguous();
                Graph.Initializer.Add(Initializer(name, cpu.data<float>().ToArray(), cpu.shape));
            }
            return name;
        }

        public string Constant(string name, float[] values, long[] shape)
        {
            Graph.Initializer.Add(Initializer(name, values, shape));
            return name;
        }

        /// <summary>
        /// Every parameter and buffer of the network is in the graph: a tensor left over means the export walked a
        /// different structure than the network runs.
        /// </summary>
        public void CheckAllWeightsUsed()
        {
            var left = weights.Keys.Where(k => !_used.Contains(k)).ToArray();
            if (left.Length > 0)
                throw new InvalidOperationException(
                    $"ONNX export left {left.Length} tensors of the network out: {string.Join(", ", left.Take(5))}");
        }

        private static InvalidOperationException Missing(string name) =>
            new($"ONNX export: the network has no tensor '{name}'");

        private static TensorProto Initializer(string name, float[] values, long[] shape)
        {
            var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
            t.Dims.Add(shape);
            // Raw little-endian bytes: what every runtime reads fastest.
            t.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
            return t;
        }

        private static ValueInfoProto Value(string name, object[] dims)
        {
            var shape = new TensorShapeProto();
            foreach (var d in dims)
                shape.Dim.Add(d is string p
                    ? new TensorShapeProto.Types.Dimension { DimParam = p }
                    : new TensorShapeProto.Types.Dimension
                    {
                        DimValue = Convert.ToInt64(d, CultureInfo.InvariantCulture),
                    });
            return new ValueInfoProto
            {
                Name = name,
                Type = new TypeProto
                {
                    TensorType = new TypeProto.Types.Tensor
                    {
                        ElemType = (int)TensorProto.Types.DataType.Float,
                        Shape = shape,
                    },
                },
            };
        }
    }
}
