//! Pure numeric helpers of the analytics reports: rounding, growth, percentages that add up to
//! 100, and the sales forecast's least-squares line with its prediction interval.

/// Round to 2 decimals.
pub fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// `a / b`, 0 when `b` is 0.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 { 0.0 } else { a / b }
}

/// Percentage change from `previous` to `current` (2 dp); 100 when growing from 0, 0 when both 0.
pub fn growth(current: f64, previous: f64) -> f64 {
    match (previous == 0.0, current == 0.0) {
        (true, true) => 0.0,
        (true, false) => 100.0,
        _ => round2((current - previous) / previous * 100.0),
    }
}

/// Shares of `values` in percent with 2 decimals that sum to exactly 100 (largest remainder),
/// or all 0 when the total is 0.
pub fn percentages(values: &[f64]) -> Vec<f64> {
    let total: f64 = values.iter().sum();
    if total <= 0.0 {
        return vec![0.0; values.len()];
    }
    // Work in hundredths of a percent: 10_000 units to hand out.
    let exact: Vec<f64> = values.iter().map(|v| v / total * 10_000.0).collect();
    let mut units: Vec<i64> = exact.iter().map(|e| e.floor() as i64).collect();
    let mut left = 10_000 - units.iter().sum::<i64>();
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())));
    for i in order.into_iter().cycle() {
        if left <= 0 {
            break;
        }
        units[i] += 1;
        left -= 1;
    }
    units.into_iter().map(|u| u as f64 / 100.0).collect()
}

/// A least-squares line `y = intercept + slope·x` over `x = 0, 1, …, n-1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    /// Value at x = 0.
    pub intercept: f64,
    /// Change per day.
    pub slope: f64,
    /// Coefficient of determination (0..1; 0 for a flat series).
    pub r2: f64,
    /// Standard error of the residuals.
    pub residual_sd: f64,
    /// Points fitted.
    pub n: usize,
    mean_x: f64,
    sxx: f64,
}

/// Fit a line to a daily series.
pub fn fit(ys: &[f64]) -> Fit {
    let n = ys.len();
    let nf = n as f64;
    let mean_x = if n == 0 { 0.0 } else { (nf - 1.0) / 2.0 };
    let mean_y = if n == 0 {
        0.0
    } else {
        ys.iter().sum::<f64>() / nf
    };
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for (i, y) in ys.iter().enumerate() {
        let (dx, dy) = (i as f64 - mean_x, y - mean_y);
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    let slope = ratio(sxy, sxx);
    let intercept = mean_y - slope * mean_x;
    let sse: f64 = ys
        .iter()
        .enumerate()
        .map(|(i, y)| (y - (intercept + slope * i as f64)).powi(2))
        .sum();
    let r2 = if syy == 0.0 {
        0.0
    } else {
        (1.0 - sse / syy).clamp(0.0, 1.0)
    };
    let residual_sd = if n > 2 {
        (sse / (nf - 2.0)).sqrt()
    } else {
        0.0
    };
    Fit {
        intercept,
        slope,
        r2,
        residual_sd,
        n,
        mean_x,
        sxx,
    }
}

impl Fit {
    /// The line at `x`.
    pub fn at(&self, x: f64) -> f64 {
        self.intercept + self.slope * x
    }

    /// Half-width of the 95 % prediction interval at `x`.
    pub fn margin(&self, x: f64) -> f64 {
        if self.n < 3 || self.sxx == 0.0 {
            return 0.0;
        }
        let leverage = 1.0 + 1.0 / self.n as f64 + (x - self.mean_x).powi(2) / self.sxx;
        1.96 * self.residual_sd * leverage.sqrt()
    }

    /// increasing / decreasing / stable: whether the fitted change over the window moves more
    /// than 5 % of the window's mean.
    pub fn trend(&self, mean: f64) -> &'static str {
        let change = self.slope * self.n as f64;
        if mean <= 0.0 || (change / mean).abs() < 0.05 {
            "stable"
        } else if change > 0.0 {
            "increasing"
        } else {
            "decreasing"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_always_sum_to_one_hundred() {
        for values in [
            vec![1.0, 1.0, 1.0],
            vec![10.0, 20.0, 30.5, 0.0],
            vec![0.3, 0.3, 0.4],
        ] {
            let p = percentages(&values);
            assert_eq!((p.iter().sum::<f64>() * 100.0).round(), 10_000.0, "{p:?}");
        }
        assert_eq!(percentages(&[1.0, 1.0, 1.0]), [33.34, 33.33, 33.33]);
        assert_eq!(percentages(&[0.0, 0.0]), [0.0, 0.0]);
    }

    #[test]
    fn a_straight_line_is_fitted_exactly() {
        let f = fit(&[1.0, 3.0, 5.0, 7.0]);
        assert!((f.slope - 2.0).abs() < 1e-9 && (f.intercept - 1.0).abs() < 1e-9);
        assert!((f.r2 - 1.0).abs() < 1e-9);
        assert!((f.at(4.0) - 9.0).abs() < 1e-9);
        assert_eq!(f.margin(4.0), 0.0);
        assert_eq!(f.trend(4.0), "increasing");
        assert_eq!(fit(&[5.0; 10]).trend(5.0), "stable");
        assert_eq!(growth(150.0, 100.0), 50.0);
        assert_eq!(growth(0.0, 0.0), 0.0);
    }
}
