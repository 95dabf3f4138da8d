//! Statistics for small A/B samples: the median, a percentile bootstrap confidence interval of
//! the difference of medians (with a hand-written seeded PRNG, so a report is reproducible), and
//! the Mann–Whitney U test with the normal approximation, tie correction and continuity
//! correction. Benchmarks here have 3–5 runs per configuration: a rank test makes no normality
//! assumption, and the bootstrap gives the size of a difference, not only its sign.

/// Median of the values; `None` when empty. NaN-free input is the caller's job.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, seedable, good enough for resampling.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), without modulo bias (Lemire's multiply-shift, with rejection).
    pub fn below(&mut self, n: usize) -> usize {
        let n = n as u64;
        loop {
            let m = (self.next_u64() as u128) * (n as u128);
            let low = m as u64;
            if low >= n.wrapping_neg() % n {
                return (m >> 64) as usize;
            }
        }
    }
}

/// A difference `b − a` of medians with a confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiffCi {
    pub estimate: f64,
    pub lo: f64,
    pub hi: f64,
}

impl DiffCi {
    /// +1 when the whole interval is above zero, −1 when below, 0 when it contains zero.
    pub fn sign(&self) -> i32 {
        if self.lo > 0.0 {
            1
        } else if self.hi < 0.0 {
            -1
        } else {
            0
        }
    }
}

/// Percentile bootstrap of `median(b) − median(a)`: each group resampled with replacement on
/// its own, `iterations` times; the interval is the (1−level)/2 and (1+level)/2 quantiles.
/// `None` when a group is empty.
pub fn bootstrap_median_diff(
    a: &[f64],
    b: &[f64],
    iterations: usize,
    level: f64,
    seed: u64,
) -> Option<DiffCi> {
    let estimate = median(b)? - median(a)?;
    let mut rng = SplitMix64::new(seed);
    let mut diffs = Vec::with_capacity(iterations);
    let mut ra = vec![0.0; a.len()];
    let mut rb = vec![0.0; b.len()];
    for _ in 0..iterations {
        for x in ra.iter_mut() {
            *x = a[rng.below(a.len())];
        }
        for x in rb.iter_mut() {
            *x = b[rng.below(b.len())];
        }
        diffs.push(median(&rb)? - median(&ra)?);
    }
    diffs.sort_by(|x, y| x.total_cmp(y));
    let q = |p: f64| {
        let idx = (p * (diffs.len() - 1) as f64).round() as usize;
        diffs[idx.min(diffs.len() - 1)]
    };
    Some(DiffCi {
        estimate,
        lo: q((1.0 - level) / 2.0),
        hi: q((1.0 + level) / 2.0),
    })
}

/// Result of a Mann–Whitney U test of `a` against `b`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannWhitney {
    /// U of the first sample: pairs (x in a, y in b) with x > y, ties counting one half.
    pub u_a: f64,
    pub z: f64,
    /// Two-sided p-value from the normal approximation.
    pub p: f64,
}

/// Mann–Whitney U with midranks for ties, the tie-corrected variance and a continuity
/// correction of 0.5 (as R's `wilcox.test(exact = FALSE, correct = TRUE)`). `None` when a
/// sample is empty or every value is tied (no variance).
pub fn mann_whitney(a: &[f64], b: &[f64]) -> Option<MannWhitney> {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|&x| (x, true))
        .chain(b.iter().map(|&x| (x, false)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = all.len();
    let mut rank_sum_a = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        // Positions i..=j share the midrank of ranks i+1..=j+1.
        let midrank = (i + j + 2) as f64 / 2.0;
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        rank_sum_a += midrank * all[i..=j].iter().filter(|e| e.1).count() as f64;
        i = j + 1;
    }
    let u_a = rank_sum_a - n1 * (n1 + 1.0) / 2.0;
    let nn = n1 + n2;
    let mean = n1 * n2 / 2.0;
    let var = n1 * n2 / 12.0 * ((nn + 1.0) - tie_term / (nn * (nn - 1.0)));
    if var <= 0.0 {
        return None;
    }
    let d = u_a - mean;
    let corrected = if d.abs() <= 0.5 {
        0.0
    } else {
        d - 0.5 * d.signum()
    };
    let z = corrected / var.sqrt();
    let p = (2.0 * (1.0 - normal_cdf(z.abs()))).min(1.0);
    Some(MannWhitney { u_a, z, p })
}

/// Standard normal CDF through erfc (Numerical Recipes' Chebyshev fit, |error| < 1.2e-7).
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn median_odd_even_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn normal_cdf_textbook_values() {
        // Standard normal table: Φ(0) = 0.5, Φ(1.96) = 0.9750, Φ(−1) = 0.1587, Φ(2.5758) = 0.995.
        assert!(close(normal_cdf(0.0), 0.5, 1e-7));
        assert!(close(normal_cdf(1.96), 0.975_002, 1e-5));
        assert!(close(normal_cdf(-1.0), 0.158_655, 1e-5));
        assert!(close(normal_cdf(2.575_829), 0.995, 1e-5));
    }

    #[test]
    fn splitmix_reference_sequence_and_range() {
        // First outputs of Vigna's reference splitmix64.c seeded with 0.
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(r.next_u64(), 0x06C4_5D18_8009_454F);
        let mut counts = [0usize; 3];
        for _ in 0..3000 {
            counts[r.below(3)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 900 && c < 1100), "{counts:?}");
    }

    #[test]
    fn mann_whitney_separated_samples_match_r() {
        // R: wilcox.test(1:5, 6:10, exact = FALSE) -> W = 0, p-value = 0.01219.
        let a = [1.0, 2.0, 3.0, 4.0, 5.0];
        let b = [6.0, 7.0, 8.0, 9.0, 10.0];
        let mw = mann_whitney(&a, &b).unwrap();
        assert_eq!(mw.u_a, 0.0);
        assert!(close(mw.p, 0.01219, 5e-5), "{mw:?}");
        // Symmetric: b against a has U = n1·n2 and the same p.
        let back = mann_whitney(&b, &a).unwrap();
        assert_eq!(back.u_a, 25.0);
        assert!(close(back.p, mw.p, 1e-12));
    }

    #[test]
    fn mann_whitney_with_ties() {
        // Worked by hand: a = 1 2 2 3, b = 2 3 4 5. Pooled ranks: 1→1, 2 (×3)→3, 3 (×2)→5.5,
        // 4→7, 5→8. R_a = 1 + 3 + 3 + 5.5 = 12.5, U_a = 12.5 − 10 = 2.5 (pair count: 1 beats
        // nothing; each 2 ties one 2: 0.5 + 0.5; 3 beats 2 and ties 3: 1.5 → 2.5).
        // Ties: t = 3 and t = 2 → Σ(t³ − t) = 24 + 6 = 30. Var = 16/12 · (9 − 30/56) = 11.2857,
        // z = (2.5 − 8 + 0.5) / 3.3594 = −1.4884, p = 2·Φ(−1.4884) = 0.1366
        // (R: wilcox.test(c(1,2,2,3), c(2,3,4,5), exact = FALSE) gives p-value = 0.1366).
        let mw = mann_whitney(&[1.0, 2.0, 2.0, 3.0], &[2.0, 3.0, 4.0, 5.0]).unwrap();
        assert_eq!(mw.u_a, 2.5);
        assert!(close(mw.z, -1.4884, 1e-3), "{mw:?}");
        assert!(close(mw.p, 0.1366, 5e-4), "{mw:?}");
        // Counting pairs directly gives the same U.
        let a = [1.0, 2.0, 2.0, 3.0];
        let b = [2.0, 3.0, 4.0, 5.0];
        let by_pairs: f64 = a
            .iter()
            .flat_map(|x| {
                b.iter().map(move |y| {
                    if x > y {
                        1.0
                    } else if x == y {
                        0.5
                    } else {
                        0.0
                    }
                })
            })
            .sum();
        assert_eq!(by_pairs, mw.u_a);
    }

    #[test]
    fn mann_whitney_degenerate() {
        assert!(mann_whitney(&[], &[1.0]).is_none());
        assert!(mann_whitney(&[2.0, 2.0], &[2.0, 2.0]).is_none());
        // Three against three, fully separated: the smallest p the approximation can give (0.081).
        let mw = mann_whitney(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).unwrap();
        assert!(close(mw.p, 0.0809, 5e-4), "{mw:?}");
    }

    #[test]
    fn bootstrap_interval_brackets_and_is_reproducible() {
        let a = [100.0, 102.0, 98.0, 101.0, 99.0];
        let b = [110.0, 112.0, 108.0, 111.0, 109.0];
        let ci = bootstrap_median_diff(&a, &b, 2000, 0.95, 42).unwrap();
        assert_eq!(ci.estimate, 10.0);
        assert!(
            ci.lo > 0.0 && ci.lo <= ci.estimate && ci.estimate <= ci.hi,
            "{ci:?}"
        );
        // Range of any resampled difference: 108 − 102 = 6 to 112 − 98 = 14.
        assert!(ci.lo >= 6.0 && ci.hi <= 14.0, "{ci:?}");
        assert_eq!(ci.sign(), 1);
        assert_eq!(bootstrap_median_diff(&a, &b, 2000, 0.95, 42), Some(ci));
        // Overlapping samples: the interval contains zero.
        let c = [99.0, 103.0, 97.0, 102.0, 100.0];
        let overlap = bootstrap_median_diff(&a, &c, 2000, 0.95, 7).unwrap();
        assert_eq!(overlap.sign(), 0, "{overlap:?}");
        assert!(bootstrap_median_diff(&[], &b, 10, 0.95, 1).is_none());
    }
}
