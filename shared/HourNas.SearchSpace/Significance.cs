namespace HourNas.SearchSpace;

/// <summary>Welch's unequal-variance t-test, for "is one search's retrained accuracy above another's".</summary>
public static class Significance
{
    /// <summary>
    /// Welch's t statistic of mean(a) - mean(b), its Welch-Satterthwaite degrees of freedom, and the one-sided
    /// p-value of "mean(a) &gt; mean(b)" (the two-sided one is min(1, 2p) for t &gt; 0). Each sample needs two values.
    /// </summary>
    public static (double T, double DegreesOfFreedom, double OneSidedP) WelchTest(IReadOnlyList<double> a,
        IReadOnlyList<double> b)
    {
        if (a.Count < 2 || b.Count < 2) throw new ArgumentException("each sample needs at least two values");
        var (ma, va) = MeanAndVariance(a);
        var (mb, vb) = MeanAndVariance(b);
        var sa = va / a.Count;
        var sb = vb / b.Count;
        if (sa + sb == 0) return (double.NaN, double.NaN, double.NaN);
        var t = (ma - mb) / Math.Sqrt(sa + sb);
        var df = (sa + sb) * (sa + sb) / (sa * sa / (a.Count - 1) + sb * sb / (b.Count - 1));
        return (t, df, StudentUpperTail(t, df));
    }

    /// <summary>P(T &gt; t) for Student's t with <paramref name="df"/> degrees of freedom.</summary>
    public static double StudentUpperTail(double t, double df)
    {
        // P(|T| > |t|) = I_x(df/2, 1/2) with x = df / (df + t^2).
        var bothTails = RegularizedIncompleteBeta(df / (df + t * t), df / 2, 0.5);
        return t >= 0 ? bothTails / 2 : 1 - bothTails / 2;
    }

    /// <summary>I_x(a, b), by its continued fraction (modified Lentz), on the side where it converges fast.</summary>
    public static double RegularizedIncompleteBeta(double x, double a, double b)
    {
        if (x is < 0 or > 1 || double.IsNaN(x)) throw new ArgumentOutOfRangeException(nameof(x));
        if (x == 0 || x == 1) return x;
        var logFront = LogGamma(a + b) - LogGamma(a) - LogGamma(b) + a * Math.Log(x) + b * Math.Log(1 - x);
        return x < (a + 1) / (a + b + 2)
            ? Math.Exp(logFront) * BetaFraction(x, a, b) / a
            : 1 - Math.Exp(logFront) * BetaFraction(1 - x, b, a) / b;
    }

    private static double BetaFraction(double x, double a, double b)
    {
        const double tiny = 1e-300;
        double c = 1, d = 1 - (a + b) * x / (a + 1);
        d = 1 / (Math.Abs(d) < tiny ? tiny : d);
        var result = d;
        for (var m = 1; m <= 500; m++)
        {
            // Even then odd term of the fraction.
            foreach (var term in new[]
                     {
                         m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                         -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
                     })
            {
                d = 1 + term * d;
                d = 1 / (Math.Abs(d) < tiny ? tiny : d);
                c = 1 + term / c;
                if (Math.Abs(c) < tiny) c = tiny;
                result *= c * d;
            }
            if (Math.Abs(c * d - 1) < 1e-15) break;
        }
        return result;
    }

    /// <summary>ln Gamma(z) for z &gt; 0 (Lanczos, g = 7, nine coefficients).</summary>
    private static double LogGamma(double z)
    {
        if (z < 0.5) return Math.Log(Math.PI / Math.Abs(Math.Sin(Math.PI * z))) - LogGamma(1 - z);
        ReadOnlySpan<double> c =
        [
            0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
            -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
            1.5056327351493116e-7,
        ];
        z -= 1;
        var sum = c[0];
        for (var i = 1; i < c.Length; i++) sum += c[i] / (z + i);
        var t = z + 7.5;
        return 0.5 * Math.Log(2 * Math.PI) + (z + 0.5) * Math.Log(t) - t + Math.Log(sum);
    }

    private static (double Mean, double Variance) MeanAndVariance(IReadOnlyList<double> x)
    {
        var mean = x.Average();
        return (mean, x.Sum(v => (v - mean) * (v - mean)) / (x.Count - 1));
    }
}
