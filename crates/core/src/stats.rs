//! The statistics behind monitoring, each written to give the figure the reference
//! implementation gives (numpy, scipy, scikit-learn, statsmodels), to float precision. Every
//! function says which formula it uses.

/// Equal-width bins of the confidence histograms on `[0, 1]`.
pub const HISTOGRAM_BINS: usize = 20;

/// The quantiles every summary of confidences reports.
pub const QUANTILE_LEVELS: [f64; 5] = [0.05, 0.25, 0.5, 0.75, 0.95];

/// The proportion an empty histogram bin counts as in the population stability index, so that
/// its logarithm is finite.
pub const PSI_EPSILON: f64 = 1e-4;

/// The left edge of histogram bin `i` (and the right edge of bin `i - 1`), exactly as
/// `numpy.linspace(0, 1, HISTOGRAM_BINS + 1)` computes it: `i * (1 / HISTOGRAM_BINS)`, with the
/// last edge exactly 1.
pub fn bin_edge(i: usize) -> f64 {
    if i >= HISTOGRAM_BINS {
        return 1.0;
    }
    i as f64 * (1.0 / HISTOGRAM_BINS as f64)
}

/// The bin of a confidence in `[0, 1]`, as `numpy.histogram(x, bins=20, range=(0, 1))` assigns
/// it: bins are half-open `[edge_i, edge_{i+1})` except the last, which is closed.
pub fn bin_of(x: f64) -> usize {
    let mut i = ((x * HISTOGRAM_BINS as f64) as usize).min(HISTOGRAM_BINS - 1);
    // numpy corrects the computed index against the linspace edges the same way.
    if i > 0 && x < bin_edge(i) {
        i -= 1;
    } else if i + 1 < HISTOGRAM_BINS && x >= bin_edge(i + 1) {
        i += 1;
    }
    i
}

/// The histogram of `values` (each in `[0, 1]`) over [`HISTOGRAM_BINS`] equal bins:
/// `numpy.histogram(values, bins=20, range=(0, 1))[0]`.
pub fn histogram(values: &[f64]) -> [u64; HISTOGRAM_BINS] {
    let mut counts = [0u64; HISTOGRAM_BINS];
    for &x in values {
        counts[bin_of(x)] += 1;
    }
    counts
}

/// The `q` quantile of sorted `values` by linear interpolation between closest ranks:
/// `numpy.quantile(values, q)` (method `"linear"`, Hyndman and Fan type 7). `None` for no values.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let h = (n - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    let (a, b) = (sorted[lo], sorted[hi]);
    // numpy's _lerp: a + (b - a) * t, computed from the upper end when t >= 0.5.
    let t = h - lo as f64;
    let diff = b - a;
    Some(if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    })
}

/// Mean and population standard deviation (`numpy.mean`, `numpy.std` with `ddof=0`) and sample
/// standard deviation (`ddof=1`, `None` below two values), by two passes (mean, then squared
/// deviations), each summed pairwise as numpy does.
pub fn mean_and_std(values: &[f64]) -> Option<(f64, f64, Option<f64>)> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mean = pairwise_sum(values.iter().copied()) / n as f64;
    let squares = pairwise_sum(values.iter().map(|x| (x - mean) * (x - mean)));
    let population = (squares / n as f64).sqrt();
    let sample = (n > 1).then(|| (squares / (n - 1) as f64).sqrt());
    Some((mean, population, sample))
}

/// numpy's pairwise summation (blocks of 8 accumulators below 128 elements, halves above),
/// so that sums agree with `numpy.sum` bit for bit in the common cases.
pub fn pairwise_sum(values: impl ExactSizeIterator<Item = f64> + Clone) -> f64 {
    let items: Vec<f64> = values.collect();
    pairwise(&items)
}

fn pairwise(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut res = 0.0;
        for x in a {
            res += x;
        }
        res
    } else if n <= 128 {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - (n % 8) {
            for (j, acc) in r.iter_mut().enumerate() {
                *acc += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for x in &a[i..] {
            res += x;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise(&a[..n2]) + pairwise(&a[n2..])
    }
}

/// The population stability index of `actual` against `expected` (histograms over the same
/// bins): `Σ (a_i - e_i) · ln(a_i / e_i)` over the bins, with `a_i`, `e_i` the proportions of
/// each histogram, a proportion below [`PSI_EPSILON`] counted as `PSI_EPSILON` (the usual
/// convention; nothing is renormalised). `None` when either histogram is empty.
pub fn psi(expected: &[u64], actual: &[u64]) -> Option<f64> {
    let (e_total, a_total) = (expected.iter().sum::<u64>(), actual.iter().sum::<u64>());
    if e_total == 0 || a_total == 0 {
        return None;
    }
    let mut sum = 0.0;
    for (e, a) in expected.iter().zip(actual) {
        let e = (*e as f64 / e_total as f64).max(PSI_EPSILON);
        let a = (*a as f64 / a_total as f64).max(PSI_EPSILON);
        sum += (a - e) * (a / e).ln();
    }
    Some(sum)
}

/// The two-sample Kolmogorov-Smirnov statistic `D = sup |F1(x) - F2(x)|` of two sorted samples,
/// from the exact empirical distribution functions: `scipy.stats.ks_2samp(a, b).statistic`.
pub fn ks_statistic(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let (n, m) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0usize, 0usize, 0.0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / n - j as f64 / m).abs());
    }
    Some(d)
}

/// The Kolmogorov-Smirnov statistic of a sorted sample against the distribution a histogram
/// over [`HISTOGRAM_BINS`] bins describes, its mass spread evenly within each bin (a
/// piecewise-linear CDF): `sup |F_sample(x) - F_hist(x)|`, taken at every sample point from
/// both sides. Used when a baseline keeps no samples.
pub fn ks_statistic_against_histogram(sorted: &[f64], histogram: &[u64]) -> Option<f64> {
    let total: u64 = histogram.iter().sum();
    if sorted.is_empty() || total == 0 {
        return None;
    }
    let cdf = |x: f64| {
        let bin = bin_of(x);
        let below: u64 = histogram[..bin].iter().sum();
        let (lo, hi) = (bin_edge(bin), bin_edge(bin + 1));
        let within = if hi > lo { (x - lo) / (hi - lo) } else { 1.0 };
        (below as f64 + within.clamp(0.0, 1.0) * histogram[bin] as f64) / total as f64
    };
    let n = sorted.len() as f64;
    let mut d = 0.0f64;
    for (i, &x) in sorted.iter().enumerate() {
        let f = cdf(x);
        d = d
            .max((f - i as f64 / n).abs())
            .max(((i + 1) as f64 / n - f).abs());
    }
    Some(d)
}

/// The survival function of the Kolmogorov distribution, `P(K > λ)` for
/// `K = sup |B(t)|` of a Brownian bridge: `scipy.stats.kstwobign.sf(λ)`. Computed by the series
/// `2 Σ_{k≥1} (-1)^(k-1) exp(-2 k² λ²)` for `λ ≥ 1`, and by its theta-function form
/// `1 - (√(2π)/λ) Σ_{k≥1} exp(-(2k-1)² π² / (8 λ²))` below.
pub fn kolmogorov_sf(lambda: f64) -> f64 {
    if lambda <= 0.0 {
        return 1.0;
    }
    if lambda < 1.0 {
        let mut sum = 0.0;
        for k in 1..=20 {
            let odd = (2 * k - 1) as f64;
            sum += (-(odd * odd) * std::f64::consts::PI * std::f64::consts::PI
                / (8.0 * lambda * lambda))
                .exp();
        }
        1.0 - (2.0 * std::f64::consts::PI).sqrt() / lambda * sum
    } else {
        let mut sum = 0.0;
        for k in 1..=100 {
            let k = k as f64;
            let term = (-2.0 * k * k * lambda * lambda).exp();
            sum += if (k as i64) % 2 == 1 { term } else { -term };
            if term < 1e-300 {
                break;
            }
        }
        (2.0 * sum).clamp(0.0, 1.0)
    }
}

/// The asymptotic p-value of a two-sample KS statistic `d` for samples of `n` and `m`:
/// `kstwobign.sf(√(n·m/(n+m)) · d)`, the Kolmogorov limit (scipy's `ks_2samp` uses it, as
/// `method="asymp"`, for large samples; for small ones its exact method gives slightly
/// different values).
pub fn ks_pvalue(d: f64, n: usize, m: usize) -> f64 {
    let en = (n as f64 * m as f64) / (n as f64 + m as f64);
    kolmogorov_sf(en.sqrt() * d)
}

/// The two-sided p-value of the pooled two-proportion z-test of `x1/n1` against `x2/n2`:
/// `z = (p1 - p2) / √(p(1-p)(1/n1 + 1/n2))` with `p = (x1+x2)/(n1+n2)`, `p = erfc(|z|/√2)`:
/// `statsmodels.stats.proportion.proportions_ztest([x1, x2], [n1, n2])`. `None` when a side is
/// empty or the pooled proportion is 0 or 1 (z undefined).
pub fn two_proportion_z_test(x1: u64, n1: u64, x2: u64, n2: u64) -> Option<(f64, f64)> {
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let (p1, p2) = (x1 as f64 / n1 as f64, x2 as f64 / n2 as f64);
    let p = (x1 + x2) as f64 / (n1 + n2) as f64;
    let se = (p * (1.0 - p) * (1.0 / n1 as f64 + 1.0 / n2 as f64)).sqrt();
    if se == 0.0 || !se.is_finite() {
        return None;
    }
    let z = (p1 - p2) / se;
    Some((z, libm::erfc(z.abs() / std::f64::consts::SQRT_2)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_follow_numpy_edges() {
        assert_eq!(bin_of(0.0), 0);
        assert_eq!(bin_of(1.0), HISTOGRAM_BINS - 1);
        // 0.15 is below numpy's edge 3 * 0.05 = 0.15000000000000002.
        assert_eq!(bin_of(0.15), 2);
        assert_eq!(bin_of(0.15000000000000002), 3);
        assert_eq!(bin_of(0.05), 1);
        assert_eq!(histogram(&[0.0, 0.5, 1.0, 0.99]).iter().sum::<u64>(), 4);
    }

    #[test]
    fn quantiles_interpolate_linearly() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), Some(2.5));
        assert_eq!(quantile(&v, 0.0), Some(1.0));
        assert_eq!(quantile(&v, 1.0), Some(4.0));
        assert_eq!(quantile(&[7.0], 0.95), Some(7.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn moments() {
        let (mean, pop, sample) = mean_and_std(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!((mean, pop), (5.0, 2.0));
        assert!((sample.unwrap() - 2.138_089_935_299_395).abs() < 1e-15);
        assert_eq!(mean_and_std(&[1.0]).unwrap().2, None);
    }

    #[test]
    fn ks_and_kolmogorov() {
        let a = [0.1, 0.2, 0.3, 0.4];
        let b = [0.25, 0.35, 0.45, 0.55, 0.65];
        assert_eq!(ks_statistic(&a, &a), Some(0.0));
        let d = ks_statistic(&a, &b).unwrap();
        assert!((d - 0.6).abs() < 1e-12, "{d}"); // scipy.stats.ks_2samp(a, b).statistic
        assert!((kolmogorov_sf(1.0) - 0.269_999_671_677_9).abs() < 1e-12);
        assert!((kolmogorov_sf(0.5) - 0.963_945_243_664_97).abs() < 1e-12);
        assert_eq!(kolmogorov_sf(0.0), 1.0);
    }

    #[test]
    fn psi_and_z() {
        assert_eq!(psi(&[10, 10], &[10, 10]), Some(0.0));
        assert!(psi(&[10, 0], &[0, 10]).unwrap() > 10.0);
        assert_eq!(psi(&[], &[]), None);
        let (z, p) = two_proportion_z_test(45, 100, 55, 100).unwrap();
        assert!((z + std::f64::consts::SQRT_2).abs() < 1e-12, "{z}");
        assert!((p - 0.157_299_207_050_285_1).abs() < 1e-12, "{p}");
        assert_eq!(two_proportion_z_test(0, 10, 0, 10), None);
    }
}
