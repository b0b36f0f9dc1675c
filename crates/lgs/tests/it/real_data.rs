//! Acceptance on the real LGS dataset (`data/online_retail_II.csv.zst`, 1,067,370 rows):
//! the figures the original notebooks published, and a differential check of every
//! month and every RFM segment against an independent computation in plain Rust
//! (the `csv` crate, floating-point parsing, hash maps; no DataFusion, no lgs parser).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{NaiveDate, NaiveDateTime};
use datafusion::prelude::SessionContext;
use lgs::analytics::{Intermediates, Report, ReportOptions, Staging, run_report};

use crate::common::{Parts, Scratch, close, repo_data};

/// What the independent reference computes.
struct Reference {
    invoice_amounts: Vec<i128>,
    months: BTreeMap<String, RefMonth>,
    segments: HashMap<String, usize>,
    customers: usize,
    quality: RefQuality,
    /// (cohort, month offset) → (active customers, net sales ×10⁴).
    cohorts: BTreeMap<(String, i64), (u64, i128)>,
    /// (customer, day) → net amount of all their lines that day ×10⁴.
    customer_days: HashMap<(i64, NaiveDate), i128>,
}

/// The data-quality panel's counts, from the raw records.
#[derive(Default)]
struct RefQuality {
    rows: u64,
    cancellation_lines: u64,
    cancelled_invoices: HashSet<String>,
    missing_customer_lines: u64,
    zero_price_lines: u64,
    /// Copies of each distinct record (all eight fields as read).
    records: HashMap<Vec<String>, u64>,
}

#[derive(Default)]
struct RefMonth {
    placed: HashSet<String>,
    cancelled: HashSet<String>,
    sales: i128,
    active: HashSet<i64>,
}

/// numpy's linear quantile over sorted values, written out again on purpose.
fn np_quantile(sorted: &[f64], q: f64) -> f64 {
    let q = q * 100.0 / 100.0;
    let v = (sorted.len() as f64 - 1.0) * q;
    if v >= (sorted.len() - 1) as f64 {
        return sorted[sorted.len() - 1];
    }
    let lo = v.floor();
    let (a, b, t) = (sorted[lo as usize], sorted[lo as usize + 1], v - lo);
    if t >= 0.5 {
        b - (b - a) * (1.0 - t)
    } else {
        a + (b - a) * t
    }
}

fn reference(as_of: NaiveDate) -> Reference {
    let file = std::fs::File::open(repo_data("online_retail_II.csv.zst")).unwrap();
    let reader = zstd::stream::read::Decoder::new(file).unwrap();
    let mut csv = csv::Reader::from_reader(reader);
    let mut invoices: HashMap<String, i128> = HashMap::new();
    let mut months: BTreeMap<String, RefMonth> = BTreeMap::new();
    // customer → (last timestamp, invoices, monetary, first month)
    let mut customers: HashMap<i64, (NaiveDateTime, HashSet<String>, i128, String)> =
        HashMap::new();
    let mut quality = RefQuality::default();
    // (customer, month) → net sales of all their lines that month.
    let mut customer_months: HashMap<(i64, String), i128> = HashMap::new();
    let mut customer_days: HashMap<(i64, NaiveDate), i128> = HashMap::new();
    for record in csv.records() {
        let r = record.unwrap();
        quality.rows += 1;
        // Descriptions are trimmed on ingest, so compare them trimmed.
        let key: Vec<String> = r.iter().map(|f| f.trim().to_string()).collect();
        *quality.records.entry(key).or_default() += 1;
        if r[0].starts_with('C') {
            quality.cancellation_lines += 1;
            quality.cancelled_invoices.insert(r[0].to_string());
        }
        if r[6].is_empty() {
            quality.missing_customer_lines += 1;
        }
        if r[5].parse::<f64>().unwrap() == 0.0 {
            quality.zero_price_lines += 1;
        }
        let invoice = r[0].to_string();
        let quantity: i64 = r[3].parse().unwrap();
        let when = NaiveDateTime::parse_from_str(&r[4], "%Y-%m-%d %H:%M:%S").unwrap();
        let price = (r[5].parse::<f64>().unwrap() * 10_000.0).round() as i128;
        let amount = price * i128::from(quantity);
        let month = r[4][..7].to_string();
        let customer: Option<i64> = (!r[6].is_empty()).then(|| r[6].parse().unwrap());
        if price > 0 && quantity > 0 {
            *invoices.entry(invoice.clone()).or_default() += amount;
        }
        let m = months.entry(month.clone()).or_default();
        if invoice.starts_with('C') {
            m.cancelled.insert(invoice.clone());
        } else {
            m.placed.insert(invoice.clone());
        }
        m.sales += amount;
        if let Some(c) = customer {
            *customer_months.entry((c, month.clone())).or_default() += amount;
            *customer_days.entry((c, when.date())).or_default() += amount;
            m.active.insert(c);
            let e = customers
                .entry(c)
                .or_insert_with(|| (when, HashSet::new(), 0, month.clone()));
            e.0 = e.0.max(when);
            e.1.insert(invoice);
            e.2 += amount;
            if month < e.3 {
                e.3 = month;
            }
        }
    }
    // Cohorts: each customer's first month, then the offset of every month they
    // bought in.
    let index = |m: &str| m[..4].parse::<i64>().unwrap() * 12 + m[5..7].parse::<i64>().unwrap();
    let mut cohorts: BTreeMap<(String, i64), (u64, i128)> = BTreeMap::new();
    for ((c, month), sales) in &customer_months {
        let first = &customers[c].3;
        let cell = cohorts
            .entry((first.clone(), index(month) - index(first)))
            .or_default();
        cell.0 += 1;
        cell.1 += sales;
    }
    let mut amounts: Vec<i128> = invoices.into_values().collect();
    amounts.sort_unstable();

    let n = customers.len();
    let segments = rfm_segments(&customers, as_of);
    Reference {
        invoice_amounts: amounts,
        months,
        segments,
        customers: n,
        quality,
        cohorts,
        customer_days,
    }
}

/// Customers per RFM segment, straight from the definitions. `customers`: id →
/// (last timestamp, invoices, monetary, first month).
#[allow(clippy::type_complexity)]
fn rfm_segments(
    customers: &HashMap<i64, (NaiveDateTime, HashSet<String>, i128, String)>,
    as_of: NaiveDate,
) -> HashMap<String, usize> {
    let as_of = as_of.and_hms_opt(0, 0, 0).unwrap();
    let mut rows: Vec<(i64, i64, usize, f64)> = customers
        .iter()
        .map(|(id, (last, inv, monetary, _))| {
            let recency = (as_of - *last).num_seconds().div_euclid(86_400);
            (*id, recency, inv.len(), *monetary as f64 / 10_000.0)
        })
        .collect();
    let levels = [0.2, 0.4, 0.6000000000000001, 0.8];
    let edges = |mut v: Vec<f64>| -> Vec<f64> {
        v.sort_by(f64::total_cmp);
        levels.iter().map(|&q| np_quantile(&v, q)).collect()
    };
    let bin = |x: f64, e: &[f64]| e.iter().position(|u| x <= *u).map_or(5, |i| i + 1);
    let r_edges = edges(rows.iter().map(|r| r.1 as f64).collect());
    let m_edges = edges(rows.iter().map(|r| r.3).collect());
    rows.sort_by_key(|r| (r.2, r.0));
    let n = rows.len();
    let f_edges = edges((1..=n).map(|i| i as f64).collect());
    let mut segments: HashMap<String, usize> = HashMap::new();
    for (rank, row) in rows.iter().enumerate() {
        let r = 6 - bin(row.1 as f64, &r_edges);
        let f = bin((rank + 1) as f64, &f_edges);
        let _m = bin(row.3, &m_edges);
        let segment = match (r, f) {
            (1..=2, 1..=2) => "Hibernating",
            (1..=2, 3..=4) => "At Risk",
            (1..=2, 5) => "Can't Lose",
            (3, 1..=2) => "About to Sleep",
            (3, 3) => "Need Attention",
            (3..=4, 4..=5) => "Loyal Customers",
            (4, 1) => "Promising",
            (5, 1) => "New Customers",
            (4..=5, 2..=3) => "Potential Loyalists",
            _ => "Champions",
        };
        *segments.entry(segment.to_string()).or_default() += 1;
    }
    segments
}

#[tokio::test]
async fn real_dataset_matches_the_notebooks_and_an_independent_computation() {
    let s = Scratch::new();
    let report = s
        .ingest(&[&repo_data("online_retail_II.csv.zst")])
        .await
        .unwrap();
    assert_eq!(report.rows_read, 1_067_370);
    assert_eq!(report.rows_loaded, 1_067_370);
    assert_eq!(report.rows_rejected, 0);

    let as_of = NaiveDate::from_ymd_opt(2012, 1, 1).unwrap();
    let ctx = s.context().await;
    let options = ReportOptions { as_of: Some(as_of) };
    let r = run_report(&ctx, &options).await.unwrap();
    same_report_however_staged(&s, &options, &r).await;
    published_figures(&r);
    let reference = reference(as_of);
    same_as_reference(&r, &reference);
    cohorts_as_reference(&r, &reference);
    crate::real_clv::clv_as_reference(&r, &reference.customer_days, as_of);
    crate::real_kmeans::kmeans_as_reference(&r);
    crate::real_basket::baskets_as_reference(&ctx).await;
    crate::real_trends::trends_as_reference(&ctx).await;
    crate::real_recommend::evaluation_as_reference(&ctx).await;
    quality_as_reference(&s, &ctx, &reference).await;
}

/// Intermediates held in memory, recomputed as views, written to Parquet and read
/// back (as on a cluster), on one partition: the same report every way.
async fn same_report_however_staged(s: &Scratch, options: &ReportOptions, r: &Report) {
    // Differential: intermediates held in memory and recomputed as views agree
    // (the session says how it keeps them, as lgs sets it for a cluster).
    let staged = |staging: Staging| async move {
        let ctx = s.context().await;
        staging.set(&ctx);
        ctx
    };
    let views = Staging {
        intermediates: Intermediates::Views,
        ..Staging::default()
    };
    assert_eq!(&run_report(&staged(views).await, options).await.unwrap(), r);
    // ... and written to Parquet files and read back (what a cluster does) in a
    // directory of the report's own under the scratch directory, removed afterwards.
    let scratch = s.dir.path().join("scratch");
    let files = Staging {
        intermediates: Intermediates::Files(scratch.clone()),
        ..Staging::default()
    };
    assert_eq!(
        run_report(&staged(files.clone()).await, options)
            .await
            .unwrap(),
        *r
    );
    // The report's own directory in it was used and is gone.
    assert!(scratch.exists(), "no scratch directory was used");
    let left: Vec<_> = std::fs::read_dir(&scratch).unwrap().collect();
    assert!(
        left.is_empty(),
        "left behind in the scratch directory: {left:?}"
    );
    // ... and, as on a cluster, with the queries over them on one partition
    // (the 40K rows of the pass over the lines are under a million).
    let narrow = Staging {
        partition_rows: Some(lgs::analytics::CLUSTER_PARTITION_ROWS),
        ..files
    };
    assert_eq!(
        run_report(&staged(narrow).await, options).await.unwrap(),
        *r
    );
    // ... and on one partition instead of one per core: the same report.
    let engine = lgs::session::Engine::Local(lgs::session::Limits {
        threads: Some(1),
        memory_limit: None,
    });
    let (one, _) = lgs::session::context_on(&s.warehouse, &engine)
        .await
        .unwrap();
    assert_eq!(&run_report(&one, options).await.unwrap(), r);
}

/// The figures the original notebooks published.
fn published_figures(r: &Report) {
    let a = &r.invoices().invoice_amount;
    assert_eq!(a.count, 40_078);
    assert_eq!((a.min, a.mode, a.max), (0.19, 15.0, 168_469.6));
    close(a.mean, 523.3033, 1e-6);
    close(a.median, 304.315, 1e-12);
    close(a.p85, 724.3895, 1e-12);
    let t = &r.invoices().invoice_amount_trimmed;
    assert_eq!((t.count, t.max), (34_066, 724.25));
    close(t.mean, 271.6834, 1e-6);

    let dec = &r.monthly()[0];
    assert_eq!(dec.month, "2009-12");
    assert_eq!((dec.placed_orders, dec.cancelled_orders), (1_929, 401));
    close(dec.sales, 799_847.11, 1e-12);
    assert_eq!((dec.active_users, dec.new_users), (1_045, 1_045));
    // The file ends on 9 December 2011: that month, and only it, is partial.
    let partial: Vec<&str> = r
        .monthly()
        .iter()
        .filter(|m| m.partial)
        .map(|m| m.month.as_str())
        .collect();
    assert_eq!(partial, ["2011-12"]);
    let jan = &r.monthly()[1];
    close(jan.sales, 624_032.892, 1e-12);
    close(jan.sales_growth_pct.unwrap(), -21.981, 1e-4);
    assert_eq!(
        (jan.active_users, jan.new_users, jan.existing_users),
        (786, 394, 392)
    );

    let count = |name: &str| {
        r.rfm()
            .rfm_segments
            .iter()
            .find(|s| s.segment == name)
            .map_or(0, |s| s.customers)
    };
    assert_eq!(r.rfm().rfm_customers.len(), 5_942);
    assert_eq!(count("Champions"), 856);
    assert_eq!(count("Loyal Customers"), 1_150);
    assert_eq!(count("Hibernating"), 1_535);
}

/// Every figure against the independent computation.
fn same_as_reference(r: &Report, reference: &Reference) {
    let a = &r.invoices().invoice_amount;
    let amounts: Vec<f64> = reference
        .invoice_amounts
        .iter()
        .map(|&v| v as f64 / 10_000.0)
        .collect();
    assert_eq!(a.count as usize, amounts.len());
    let exact_mean =
        reference.invoice_amounts.iter().sum::<i128>() as f64 / 10_000.0 / amounts.len() as f64;
    close(a.mean, exact_mean, 1e-12);
    assert_eq!(a.p85, np_quantile(&amounts, 0.85));

    assert_eq!(r.monthly().len(), reference.months.len());
    let mut seen: HashSet<i64> = HashSet::new();
    for (row, (month, m)) in r.monthly().iter().zip(&reference.months) {
        assert_eq!(&row.month, month);
        assert_eq!(row.placed_orders as usize, m.placed.len(), "{month}");
        assert_eq!(row.cancelled_orders as usize, m.cancelled.len(), "{month}");
        assert_eq!(row.sales, m.sales as f64 / 10_000.0, "{month}");
        assert_eq!(row.active_users as usize, m.active.len(), "{month}");
        let new = m.active.iter().filter(|c| !seen.contains(c)).count();
        assert_eq!(row.new_users as usize, new, "{month}");
        seen.extend(&m.active);
    }

    assert_eq!(r.rfm().rfm_customers.len(), reference.customers);
    for segment in &r.rfm().rfm_segments {
        assert_eq!(
            segment.customers as usize, reference.segments[&segment.segment],
            "{}",
            segment.segment
        );
    }
    assert_eq!(r.rfm().rfm_segments.len(), reference.segments.len());
}

/// Cohort retention: December 2009's cohort is that month's new users, and every
/// (cohort, offset) cell is the reference's (zero where it has none), up to the
/// last month of the data.
fn cohorts_as_reference(r: &Report, reference: &Reference) {
    let cohorts = r.cohorts();
    assert_eq!(
        (cohorts[0].cohort.as_str(), cohorts[0].customers),
        ("2009-12", 1_045)
    );
    assert_eq!(cohorts.len(), r.monthly().len());
    let mut cells = 0;
    for (i, c) in cohorts.iter().enumerate() {
        assert_eq!(c.active.len(), cohorts.len() - i, "{}", c.cohort);
        assert_eq!(c.customers, r.monthly()[i].new_users, "{}", c.cohort);
        for (k, (&active, &sales)) in c.active.iter().zip(&c.sales).enumerate() {
            let (want, want_sales) = reference
                .cohorts
                .get(&(c.cohort.clone(), k as i64))
                .copied()
                .unwrap_or((0, 0));
            assert_eq!(active, want, "{} +{k}", c.cohort);
            close(sales, want_sales as f64 / 10_000.0, 1e-9);
            assert_eq!(c.retention[k], active as f64 / c.customers as f64);
            cells += usize::from(want > 0);
        }
    }
    assert_eq!(
        cells,
        reference.cohorts.len(),
        "a cell of the reference is missing"
    );
}

/// The data-quality panel: the counts of data/README.md, and the reference's.
async fn quality_as_reference(s: &Scratch, ctx: &SessionContext, reference: &Reference) {
    let (_, tables) = lgs::session::context_with_tables(&s.warehouse)
        .await
        .unwrap();
    let q = lgs::analytics::quality::quality(ctx, &tables)
        .await
        .unwrap();
    let rq = &reference.quality;
    let duplicates: u64 = rq.records.values().map(|n| n - 1).sum();
    assert_eq!(q.rows_loaded, rq.rows);
    assert_eq!(q.rows_quarantined, 0);
    assert_eq!(
        (q.cancellation_lines, q.cancelled_invoices),
        (rq.cancellation_lines, rq.cancelled_invoices.len() as u64)
    );
    assert_eq!(q.missing_customer_lines, rq.missing_customer_lines);
    assert_eq!(q.zero_price_lines, rq.zero_price_lines);
    assert_eq!(q.duplicate_lines, duplicates);
    assert_eq!(q.customers as usize, reference.customers);
    assert_eq!(
        (
            q.cancellation_lines,
            q.cancelled_invoices,
            q.missing_customer_lines,
            q.zero_price_lines,
            q.duplicate_lines,
            q.invoices,
        ),
        (19_494, 8_292, 243_007, 6_202, 34_335, 53_628)
    );
}
