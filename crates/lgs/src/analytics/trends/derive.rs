//! The trends derived from the products' monthly figures: movers between two
//! periods, new and gone products, seasonality and the ABC classes. Pure
//! functions over the (product, month) rows the SQL aggregated.

use std::collections::BTreeMap;

use serde::Serialize;

/// A month as a count of months (year × 12 + month − 1), from "YYYY-MM".
pub fn month_index(month: &str) -> Option<i32> {
    let (y, m) = month.split_once('-')?;
    let (y, m): (i32, i32) = (y.parse().ok()?, m.parse().ok()?);
    (1..=12).contains(&m).then_some(y * 12 + m - 1)
}

/// "YYYY-MM" of a month index.
pub fn month_name(index: i32) -> String {
    format!(
        "{:04}-{:02}",
        index.div_euclid(12),
        index.rem_euclid(12) + 1
    )
}

/// Inclusive months `first..=last`, as indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Period {
    pub first: i32,
    pub last: i32,
}

impl Period {
    pub fn contains(&self, month: i32) -> bool {
        (self.first..=self.last).contains(&month)
    }

    /// "2011-09..2011-11".
    pub fn text(&self) -> String {
        format!("{}..{}", month_name(self.first), month_name(self.last))
    }

    /// The same months `years` years before.
    pub fn years_before(&self, years: i32) -> Period {
        Period {
            first: self.first - 12 * years,
            last: self.last - 12 * years,
        }
    }

    /// Parses "YYYY-MM..YYYY-MM".
    pub fn parse(text: &str) -> Option<Period> {
        let (a, b) = text.split_once("..")?;
        let (first, last) = (month_index(a.trim())?, month_index(b.trim())?);
        (first <= last).then_some(Period { first, last })
    }
}

/// One product's figures in one month.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MonthFigures {
    /// Units of non-cancellation lines.
    pub units: i64,
    /// Net sales in ten-thousandths of a pound (the amounts' scale) (every line, cancellations included).
    pub net_e4: i64,
    pub customers: u64,
    pub invoices: u64,
    /// Units of cancellation lines, as a positive number.
    pub cancelled_units: i64,
}

/// Every product's months: stock code → month index → figures.
pub type Monthly = BTreeMap<String, BTreeMap<i32, MonthFigures>>;

fn units_in(months: &BTreeMap<i32, MonthFigures>, period: Period) -> (i64, i64) {
    months
        .range(period.first..=period.last)
        .fold((0, 0), |(u, p), (_, f)| (u + f.units, p + f.net_e4))
}

/// A product's units and net sales in two periods.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Mover {
    pub stock_code: String,
    pub units_before: i64,
    pub units_now: i64,
    /// (now − before) / before.
    pub growth: f64,
    pub net_sales_before: f64,
    pub net_sales_now: f64,
}

/// The products with at least `min_units` units in `before`, by the growth of their
/// units from `before` to `now`, largest first.
pub fn movers(monthly: &Monthly, now: Period, before: Period, min_units: i64) -> Vec<Mover> {
    let mut out: Vec<Mover> = monthly
        .iter()
        .filter_map(|(code, months)| {
            let (ub, pb) = units_in(months, before);
            let (un, pn) = units_in(months, now);
            (ub >= min_units.max(1)).then(|| Mover {
                stock_code: code.clone(),
                units_before: ub,
                units_now: un,
                growth: (un - ub) as f64 / ub as f64,
                net_sales_before: pb as f64 / 1e4,
                net_sales_now: pn as f64 / 1e4,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.growth
            .total_cmp(&a.growth)
            .then(b.units_now.cmp(&a.units_now))
            .then_with(|| a.stock_code.cmp(&b.stock_code))
    });
    out
}

/// A product first sold in the window, or sold steadily before it and not in it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Arrival {
    pub stock_code: String,
    /// The first (new) or last (gone) month it sold in.
    pub month: String,
    /// Units in the window (new) or in the year before it (gone).
    pub units: i64,
    pub net_sales: f64,
}

/// Most units first, then by code.
fn by_units(list: &mut [Arrival]) {
    list.sort_by(|a, b| {
        b.units
            .cmp(&a.units)
            .then_with(|| a.stock_code.cmp(&b.stock_code))
    });
}

fn sold(f: &MonthFigures) -> bool {
    f.units > 0
}

/// Products whose first month with a sale is in `window`, by units in it.
pub fn new_products(monthly: &Monthly, window: Period) -> Vec<Arrival> {
    let mut out: Vec<Arrival> = monthly
        .iter()
        .filter_map(|(code, months)| {
            let first = months.iter().find(|(_, f)| sold(f)).map(|(m, _)| *m)?;
            window.contains(first).then(|| {
                let (units, pence) = units_in(months, window);
                Arrival {
                    stock_code: code.clone(),
                    month: month_name(first),
                    units,
                    net_sales: pence as f64 / 1e4,
                }
            })
        })
        .collect();
    by_units(&mut out);
    out
}

/// Products sold in at least `steady` of the 12 months before `window` and in none
/// of it, by their units in those 12 months.
pub fn gone_products(monthly: &Monthly, window: Period, steady: usize) -> Vec<Arrival> {
    let year = Period {
        first: window.first - 12,
        last: window.first - 1,
    };
    let mut out: Vec<Arrival> = monthly
        .iter()
        .filter_map(|(code, months)| {
            let selling = months
                .range(year.first..=year.last)
                .filter(|(_, f)| sold(f))
                .count();
            let now = months
                .range(window.first..=window.last)
                .any(|(_, f)| sold(f));
            (selling >= steady && !now).then(|| {
                let last = months
                    .range(..window.first)
                    .rev()
                    .find(|(_, f)| sold(f))
                    .map_or(year.last, |(m, _)| *m);
                let (units, pence) = units_in(months, year);
                Arrival {
                    stock_code: code.clone(),
                    month: month_name(last),
                    units,
                    net_sales: pence as f64 / 1e4,
                }
            })
        })
        .collect();
    by_units(&mut out);
    out
}

/// A product's units by calendar month over a year.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Season {
    pub stock_code: String,
    pub units: i64,
    /// The calendar month (1–12) of the most units (the earliest on a tie).
    pub peak_month: u32,
    pub peak_share: f64,
    /// Share of the units in October to December.
    pub q4_share: f64,
}

/// Each product with at least `min_units` units in `year` (twelve months): its
/// peak month's and Q4's shares of them, most seasonal (Q4 share) first.
pub fn seasonality(monthly: &Monthly, year: Period, min_units: i64) -> Vec<Season> {
    let mut out: Vec<Season> = monthly
        .iter()
        .filter_map(|(code, months)| {
            let mut by_month = [0i64; 12];
            for (m, f) in months.range(year.first..=year.last) {
                by_month[m.rem_euclid(12) as usize] += f.units.max(0);
            }
            let units: i64 = by_month.iter().sum();
            if units < min_units.max(1) {
                return None;
            }
            let (peak, most) = by_month
                .iter()
                .enumerate()
                .fold(
                    (0, i64::MIN),
                    |best, (m, &u)| if u > best.1 { (m, u) } else { best },
                );
            Some(Season {
                stock_code: code.clone(),
                units,
                peak_month: peak as u32 + 1,
                peak_share: most as f64 / units as f64,
                q4_share: by_month[9..].iter().sum::<i64>() as f64 / units as f64,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.q4_share
            .total_cmp(&a.q4_share)
            .then(b.units.cmp(&a.units))
            .then_with(|| a.stock_code.cmp(&b.stock_code))
    });
    out
}

/// A product's place in the ABC analysis.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Abc {
    pub rank: u64,
    pub stock_code: String,
    pub net_sales: f64,
    /// Share of all positive net sales of this product and every one above it.
    pub cumulative_share: f64,
    pub class: char,
}

/// Products ranked by net sales in `year`: A while the share of the products above
/// is under 80 % (the products that make the first 80 %), B under 95 %, C the rest
/// (with every product whose net sales are not positive).
pub fn abc(monthly: &Monthly, year: Period) -> Vec<Abc> {
    let mut sales: Vec<(String, i64)> = monthly
        .iter()
        .map(|(code, months)| (code.clone(), units_in(months, year).1))
        .filter(|(_, p)| *p != 0)
        .collect();
    sales.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let total: i64 = sales.iter().map(|(_, p)| (*p).max(0)).sum();
    let mut above = 0i64;
    sales
        .into_iter()
        .enumerate()
        .map(|(i, (code, pence))| {
            let before = if total > 0 {
                above as f64 / total as f64
            } else {
                1.0
            };
            above += pence.max(0);
            let class = match before {
                _ if pence <= 0 => 'C',
                b if b < 0.80 => 'A',
                b if b < 0.95 => 'B',
                _ => 'C',
            };
            Abc {
                rank: i as u64 + 1,
                stock_code: code,
                net_sales: pence as f64 / 1e4,
                cumulative_share: if total > 0 {
                    above as f64 / total as f64
                } else {
                    0.0
                },
                class,
            }
        })
        .collect()
}
