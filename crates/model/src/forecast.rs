//! Capacity forecasts: a robust straight line through a measure's recent
//! samples, and how long until it reaches a limit at that slope (what
//! Prometheus `predict_linear` and Zabbix `timeleft()` answer).
//!
//! The fit is Theil–Sen: the slope is the median of the slopes between
//! every pair of points, the intercept the median of what each point
//! leaves over. Chosen over least squares (what `predict_linear` does)
//! and over iteratively reweighted fits (Huber) because a disk series has
//! outliers of its own kind (a backup's temporary file, a log rotated,
//! a cache emptied) and Theil–Sen ignores up to 29 % of points wherever
//! they lie, with no tuning constant and no iteration that may not
//! converge; its cost, n(n-1)/2 slopes, is bounded by the series' cap
//! (at most [`MAX_FIT_POINTS`] points: 125,000 slopes, 1 MB, some
//! milliseconds, once per new sample). Its slope has a distribution-free
//! confidence interval (Sen 1968), which gives the range of days.
//!
//! Pure arithmetic, no I/O: the monitor keeps the series and calls this.

/// Most points a fit takes; more are thinned evenly (see the module doc
/// for the cost).
pub const MAX_FIT_POINTS: usize = 501;

/// The two-sided 95 % normal quantile, for the slope's interval.
const Z_95: f64 = 1.959_964;

/// A straight line fitted through a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    /// Growth per second, the median of the pairwise slopes.
    pub slope: f64,
    /// The lower end of the slope's 95 % confidence interval.
    pub slope_low: f64,
    /// The upper end of the slope's 95 % confidence interval.
    pub slope_high: f64,
    /// The line's value at `origin`.
    pub intercept: f64,
    /// The time (ms) the intercept is taken at: the newest point's.
    pub origin: i64,
    /// How many points were fitted.
    pub points: usize,
    /// From the oldest point to the newest, in ms.
    pub span_ms: i64,
    /// The median absolute deviation of the points from the line (in the
    /// measure's unit): how noisy the series is around its trend.
    pub residual_spread: f64,
}

/// How long until a fitted line reaches a limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outlook {
    /// The line is at or past the limit already.
    Reached,
    /// Growing: the limit is reached in `seconds` at the fitted slope;
    /// `earliest` at the slope's upper bound, `latest` at its lower bound
    /// (`None` when that bound is not growth: it may never be reached).
    In {
        /// Seconds from the evaluation time, at the fitted slope.
        seconds: f64,
        /// Seconds at the upper end of the slope's interval.
        earliest: f64,
        /// Seconds at the lower end of the slope's interval, if it grows.
        latest: Option<f64>,
    },
    /// Flat or falling: the limit is not approached.
    Never,
}

impl Fit {
    /// The line's value at `at` (ms).
    pub fn value_at(&self, at: i64) -> f64 {
        self.intercept + self.slope * (at - self.origin) as f64 / 1000.0
    }

    /// How long from `now` (ms) until the line reaches `limit` (for a
    /// measure that grows towards it).
    pub fn outlook(&self, limit: f64, now: i64) -> Outlook {
        let level = self.value_at(now);
        if level >= limit {
            return Outlook::Reached;
        }
        if self.slope <= 0.0 || !self.slope.is_finite() {
            return Outlook::Never;
        }
        let room = limit - level;
        Outlook::In {
            seconds: room / self.slope,
            earliest: room / self.slope_high.max(self.slope),
            latest: (self.slope_low > 0.0).then(|| room / self.slope_low),
        }
    }
}

/// The Theil–Sen line through `points` (time in ms, value), oldest first
/// or not; `None` for fewer than two points at distinct times or values
/// that are not numbers. More than [`MAX_FIT_POINTS`] are thinned evenly.
pub fn theil_sen(points: &[(i64, f64)]) -> Option<Fit> {
    let mut pts: Vec<(i64, f64)> = points
        .iter()
        .copied()
        .filter(|(_, v)| v.is_finite())
        .collect();
    pts.sort_by_key(|p| p.0);
    if pts.len() > MAX_FIT_POINTS {
        let n = pts.len();
        pts = (0..MAX_FIT_POINTS)
            .map(|i| pts[i * (n - 1) / (MAX_FIT_POINTS - 1)])
            .collect();
    }
    let (first, last) = (pts.first()?.0, pts.last()?.0);
    let origin = last;
    // Seconds before the newest point: small numbers, no precision lost.
    let xs: Vec<(f64, f64)> = pts
        .iter()
        .map(|(t, v)| ((t - origin) as f64 / 1000.0, *v))
        .collect();
    let mut slopes = Vec::with_capacity(xs.len() * xs.len().saturating_sub(1) / 2);
    for (i, a) in xs.iter().enumerate() {
        for b in &xs[i + 1..] {
            if b.0 != a.0 {
                slopes.push((b.1 - a.1) / (b.0 - a.0));
            }
        }
    }
    if slopes.is_empty() {
        return None;
    }
    let n = xs.len() as f64;
    let pairs = slopes.len();
    let slope = median(&mut slopes)?;
    // Sen's interval: the order statistics C/2 either side of the median,
    // C from the variance of Kendall's S (ties ignored).
    let c = Z_95 * (n * (n - 1.0) * (2.0 * n + 5.0) / 18.0).sqrt();
    let low_rank = ((pairs as f64 - c) / 2.0).floor().max(0.0) as usize;
    let high_rank = ((pairs as f64 + c) / 2.0).ceil().min((pairs - 1) as f64) as usize;
    let slope_low = nth(&mut slopes, low_rank.min(pairs - 1));
    let slope_high = nth(&mut slopes, high_rank);
    let mut rests: Vec<f64> = xs.iter().map(|(x, y)| y - slope * x).collect();
    let intercept = median(&mut rests)?;
    let mut deviations: Vec<f64> = xs
        .iter()
        .map(|(x, y)| (y - (intercept + slope * x)).abs())
        .collect();
    let residual_spread = median(&mut deviations)?;
    Some(Fit {
        slope,
        slope_low: slope_low.min(slope),
        slope_high: slope_high.max(slope),
        intercept,
        origin,
        points: xs.len(),
        span_ms: last - first,
        residual_spread,
    })
}

/// The `k`-th smallest of `values` (reorders them).
fn nth(values: &mut [f64], k: usize) -> f64 {
    let (_, v, _) = values.select_nth_unstable_by(k, f64::total_cmp);
    *v
}

/// The median of `values` (reorders them); `None` when empty.
fn median(values: &mut [f64]) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let upper = nth(values, n / 2);
    if n % 2 == 1 {
        return Some(upper);
    }
    // The lower middle is the largest of the half below the upper one.
    let lower = values[..n / 2]
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    Some((lower + upper) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_MS: i64 = 86_400_000;

    /// A seeded generator (xorshift64*), so the noisy series are the same
    /// on every run.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
        }
        /// Roughly normal noise of standard deviation `sd` (sum of 12
        /// uniforms).
        fn noise(&mut self, sd: f64) -> f64 {
            ((0..12).map(|_| self.next()).sum::<f64>() - 6.0) * sd
        }
    }

    /// `n` points over `days`, growing `per_day` from `start`, with noise.
    fn series(
        n: usize,
        days: f64,
        start: f64,
        per_day: f64,
        sd: f64,
        seed: u64,
    ) -> Vec<(i64, f64)> {
        let mut rng = Rng(seed);
        (0..n)
            .map(|i| {
                let t = (i as f64 * days / (n - 1) as f64 * DAY_MS as f64) as i64;
                (
                    t,
                    start + per_day * t as f64 / DAY_MS as f64 + rng.noise(sd),
                )
            })
            .collect()
    }

    fn days(seconds: f64) -> f64 {
        seconds / 86_400.0
    }

    #[test]
    fn a_noisy_linear_series_gives_its_slope_and_days_left_within_tolerance() {
        // A disk at 50 % growing 2 points a day, noise of 1 point: full
        // (100 %) in 25 days from the start, 11 days after the last point.
        for seed in 1..=20 {
            let pts = series(200, 14.0, 50.0, 2.0, 1.0, seed);
            let fit = theil_sen(&pts).unwrap();
            let per_day = fit.slope * 86_400.0;
            assert!((per_day - 2.0).abs() < 0.15, "seed {seed}: {per_day}/day");
            assert!(fit.slope_low < fit.slope && fit.slope < fit.slope_high);
            assert!(fit.slope_low * 86_400.0 > 1.7 && fit.slope_high * 86_400.0 < 2.3);
            let now = 14 * DAY_MS;
            match fit.outlook(100.0, now) {
                Outlook::In {
                    seconds,
                    earliest,
                    latest,
                } => {
                    assert!(
                        (days(seconds) - 11.0).abs() < 1.0,
                        "seed {seed}: {}",
                        days(seconds)
                    );
                    assert!(earliest <= seconds && latest.is_some_and(|l| l >= seconds));
                }
                other => panic!("seed {seed}: {other:?}"),
            }
            assert!(fit.residual_spread > 0.3 && fit.residual_spread < 1.5);
            assert_eq!(fit.points, 200);
            assert_eq!(fit.span_ms, 14 * DAY_MS);
        }
    }

    #[test]
    fn outliers_do_not_move_the_theil_sen_slope_where_least_squares_moves() {
        let clean = series(100, 10.0, 40.0, 1.0, 0.2, 7);
        let mut dirty = clean.clone();
        // A fifth of the points jump up by 40 points (a backup's temporary
        // file), all in the last days, where they pull a least-squares
        // line hardest.
        for p in dirty.iter_mut().skip(80) {
            p.1 += 40.0;
        }
        let per_day = |pts: &[(i64, f64)]| theil_sen(pts).unwrap().slope * 86_400.0;
        assert!((per_day(&clean) - 1.0).abs() < 0.05);
        assert!(
            (per_day(&dirty) - 1.0).abs() < 0.35,
            "theil-sen: {}/day",
            per_day(&dirty)
        );
        let least_squares = {
            let n = dirty.len() as f64;
            let xs: Vec<f64> = dirty.iter().map(|p| p.0 as f64 / DAY_MS as f64).collect();
            let mx = xs.iter().sum::<f64>() / n;
            let my = dirty.iter().map(|p| p.1).sum::<f64>() / n;
            let sxy: f64 = xs
                .iter()
                .zip(&dirty)
                .map(|(x, p)| (x - mx) * (p.1 - my))
                .sum();
            let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
            sxy / sxx
        };
        assert!(least_squares > 3.0, "least squares: {least_squares}/day");
    }

    #[test]
    fn flat_and_falling_series_never_reach_the_limit() {
        let flat = theil_sen(&series(50, 7.0, 60.0, 0.0, 0.0, 1)).unwrap();
        assert_eq!(flat.outlook(100.0, 7 * DAY_MS), Outlook::Never);
        let falling = theil_sen(&series(50, 7.0, 60.0, -1.0, 0.3, 2)).unwrap();
        assert!(falling.slope < 0.0);
        assert_eq!(falling.outlook(100.0, 7 * DAY_MS), Outlook::Never);
    }

    #[test]
    fn a_line_past_its_limit_has_reached_it() {
        let fit = theil_sen(&series(20, 1.0, 99.0, 5.0, 0.0, 1)).unwrap();
        assert_eq!(fit.outlook(100.0, DAY_MS), Outlook::Reached);
    }

    #[test]
    fn noise_around_a_flat_line_leaves_the_far_end_of_the_range_open() {
        let fit = theil_sen(&series(30, 2.0, 50.0, 0.05, 3.0, 11)).unwrap();
        assert!(fit.slope_low < 0.0, "{:?}", fit);
        if let Outlook::In { latest, .. } = fit.outlook(100.0, 2 * DAY_MS) {
            assert_eq!(latest, None);
        }
    }

    #[test]
    fn too_few_or_degenerate_points_give_no_fit() {
        assert_eq!(theil_sen(&[]), None);
        assert_eq!(theil_sen(&[(0, 1.0)]), None);
        assert_eq!(theil_sen(&[(5, 1.0), (5, 2.0)]), None);
        assert_eq!(theil_sen(&[(0, f64::NAN), (5, f64::INFINITY)]), None);
        assert!(theil_sen(&[(0, 1.0), (1000, 2.0)]).is_some());
    }

    #[test]
    fn a_long_series_is_thinned_to_the_cap_and_keeps_its_slope() {
        let pts = series(3_000, 30.0, 10.0, 0.5, 0.1, 3);
        let fit = theil_sen(&pts).unwrap();
        assert_eq!(fit.points, MAX_FIT_POINTS);
        assert_eq!(fit.span_ms, 30 * DAY_MS);
        assert!((fit.slope * 86_400.0 - 0.5).abs() < 0.02);
    }
}
