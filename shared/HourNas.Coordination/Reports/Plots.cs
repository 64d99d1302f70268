using ScottPlot;

namespace HourNas.Coordination.Reports;

/// <summary>Writes ScottPlot plots as PNG and SVG, with a font that the Linux native SkiaSharp can draw.</summary>
public static class Plots
{
    /// <summary>
    /// The Linux SkiaSharp native build we ship has no fontconfig, so it finds no system font and draws no text:
    /// register a TrueType font file ourselves (Debian: fonts-dejavu-core; HOURNAS_PLOT_FONT names another file).
    /// </summary>
    private static readonly Lazy<string> FontName = new(() =>
    {
        string[] candidates =
        [
            Environment.GetEnvironmentVariable("HOURNAS_PLOT_FONT") ?? "",
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/TTF/DejaVuSans.ttf",
        ];
        var file = candidates.FirstOrDefault(File.Exists)
            ?? throw new FileNotFoundException(
                "no font for the plots: install fonts-dejavu-core or set HOURNAS_PLOT_FONT to a .ttf file");
        const string name = "HourNas Plot Font";
        Fonts.AddFontFile(name, file);
        Fonts.Default = name;
        return name;
    });

    /// <summary>The plot as an inline SVG element, for a web page.</summary>
    public static string Svg(Plot plot, int width = 900, int height = 420)
    {
        plot.Font.Set(FontName.Value);
        var svg = plot.GetSvgHtml(width, height);
        // Without the XML declaration, which HTML does not take.
        return svg[svg.IndexOf("<svg", StringComparison.Ordinal)..];
    }

    /// <summary>Saves <c>name.png</c> and <c>name.svg</c> in the folder; returns both paths.</summary>
    public static IReadOnlyList<string> Save(Plot plot, string folder, string name, int width = 900, int height = 540)
    {
        plot.Font.Set(FontName.Value);
        var png = Path.Combine(folder, name + ".png");
        var svg = Path.Combine(folder, name + ".svg");
        plot.SavePng(png, width, height);
        plot.SaveSvg(svg, width, height);
        return [png, svg];
    }
}
