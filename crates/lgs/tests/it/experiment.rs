//! Campaign experiments on a generated experiment with a planted effect, whose
//! groups' outcomes the test computes from the lines it wrote; and the errors of
//! bad assignments.

use std::fmt::Write;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::NaiveDate;
use lgs::analytics::experiment::{
    Assignments, ExperimentAnalysis, ExperimentOptions, ExperimentResult,
};
use lgs::analytics::{Analysis, ReportOptions, run_analyses};
use lgs_models::experiment::{two_proportions, welch};

use crate::common::{Scratch, close};

const HEADER: &str =
    "invoice_no,stock_code,description,quantity,invoice_date,unit_price,customer_id,country\n";

/// A customer's (offer, converted, revenue, pre-period revenue).
type Truth = (bool, bool, f64, f64);

/// 2,000 customers; even ids get the offer. Everyone buys 30 days before the start
/// (10 + id % 50). In the 30-day window a control customer buys when id % 10 < 2
/// (20 %), an offered one when id % 10 < 4 (40 %: the planted effect), 1.5 times
/// their pre-period amount; customers with id % 97 = 0 cancel that purchase the
/// same day (no conversion). Returns the file and, per customer,
/// (offer, converted, revenue, pre-period revenue).
fn planted(s: &Scratch) -> (PathBuf, PathBuf, Vec<Truth>) {
    let mut csv = String::from(HEADER);
    let mut assignments = String::from("customer_id,group\n");
    let mut truth = Vec::new();
    for id in 1..=2000u32 {
        let offer = id % 2 == 0;
        let pre = f64::from(10 + id % 50);
        writeln!(
            csv,
            "{id}01,P1,MUG,1,2011-05-02 10:00:00,{pre}.00,{id},United Kingdom"
        )
        .unwrap();
        let buys = id % 10 < if offer { 4 } else { 2 };
        let cancels = buys && id % 97 == 0;
        if buys {
            let amount = pre * 1.5;
            writeln!(
                csv,
                "{id}02,P1,MUG,1,2011-06-{:02} 11:00:00,{amount},{id},United Kingdom",
                1 + id % 28
            )
            .unwrap();
            if cancels {
                writeln!(
                    csv,
                    "C{id}03,P1,MUG,-1,2011-06-{:02} 15:00:00,{amount},{id},United Kingdom",
                    1 + id % 28
                )
                .unwrap();
            }
        }
        let revenue = if buys && !cancels { pre * 1.5 } else { 0.0 };
        truth.push((offer, buys && !cancels, revenue, pre));
        let group = if offer { "offer" } else { "control" };
        writeln!(assignments, "{id},{group}").unwrap();
    }
    (
        s.file("lines.csv", csv),
        s.file("assignments.csv", assignments),
        truth,
    )
}

fn options(assignments: Assignments) -> ExperimentOptions {
    ExperimentOptions {
        assignments,
        start: NaiveDate::from_ymd_opt(2011, 6, 1),
        ..ExperimentOptions::default()
    }
}

async fn run(s: &Scratch, o: ExperimentOptions) -> lgs::Result<ExperimentResult> {
    let ctx = s.context().await;
    let analyses: Vec<Arc<dyn Analysis>> = vec![Arc::new(ExperimentAnalysis { options: o })];
    let report = run_analyses(&ctx, &ReportOptions::default(), &analyses).await?;
    Ok(report.part::<ExperimentResult>().unwrap().clone())
}

#[tokio::test]
async fn a_planted_effect_is_found() {
    let s = Scratch::new();
    let (lines, assignments, truth) = planted(&s);
    s.ingest(&[&lines]).await.unwrap();
    let r = run(&s, options(Assignments::File(assignments)))
        .await
        .unwrap();
    let e = &r.experiment;
    assert_eq!(e.control, "control");
    let pick = |offer: bool| truth.iter().filter(move |t| t.0 == offer);
    let converted = |offer| pick(offer).filter(|t| t.1).count() as u64;
    let revenue = |offer| pick(offer).map(|t| t.2).collect::<Vec<f64>>();
    // The groups as written.
    let control = e.groups.iter().find(|g| g.group == "control").unwrap();
    let offer = e.groups.iter().find(|g| g.group == "offer").unwrap();
    assert_eq!((control.customers, offer.customers), (1000, 1000));
    assert_eq!(
        (control.converted, offer.converted),
        (converted(false), converted(true))
    );
    let mean = |v: Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
    close(offer.revenue_per_customer, mean(revenue(true)), 1e-12);
    close(
        offer.pre_revenue_per_customer,
        mean(pick(true).map(|t| t.3).collect()),
        1e-12,
    );
    // The tests on those outcomes (the statistics are checked against scipy in
    // lgs-models).
    let c = &e.comparisons[0];
    let want = two_proportions(converted(true), 1000, converted(false), 1000, 0.05).unwrap();
    close(c.conversion.difference, want.estimate, 1e-12);
    close(c.conversion.p_value, want.p_value, 1e-9);
    let want = welch(&revenue(true), &revenue(false), 0.05).unwrap();
    close(c.revenue.p_value, want.p_value, 1e-9);
    // The planted 20 points are inside the interval, far from zero.
    assert!(c.conversion.low < 0.2 && 0.2 < c.conversion.high, "{c:?}");
    assert!(c.conversion.p_value < 1e-6, "{c:?}");
    assert!(
        c.revenue_bootstrap_low > 0.0 && c.revenue.low > 0.0,
        "{c:?}"
    );
    // Pre-period revenue predicts window revenue here: CUPED removes variance.
    assert!(c.cuped_variance_reduction > 0.0, "{c:?}");
    // An even split as intended: no sample-ratio mismatch.
    assert!(!e.sample_ratio.mismatch);
    close(e.sample_ratio.p_value, 1.0, 1e-12);
}

#[tokio::test]
async fn bad_assignments_are_refused_with_what_is_wrong() {
    let s = Scratch::new();
    let (lines, _, _) = planted(&s);
    s.ingest(&[&lines]).await.unwrap();
    let cases = [
        (
            "customer_id,group\n1,control\n2,offer\n99999,offer\n88888,control\n",
            "2 of 4 assignments do not match a customer",
        ),
        (
            "customer_id,group\n1,control\n2,offer\n1,offer\n",
            "assigned more than once, e.g. 1 (control and offer)",
        ),
        (
            "customer,group\n1,control\n",
            "needs columns customer_id and group",
        ),
        (
            "customer_id,group\n1,control\n3,control\n",
            "at least two groups",
        ),
        ("customer_id,group\n1,a\n2,b\n", "no group is named control"),
    ];
    for (i, (content, message)) in cases.into_iter().enumerate() {
        let file = s.file(&format!("a{i}.csv"), content);
        let err = run(&s, options(Assignments::File(file))).await.unwrap_err();
        assert!(err.to_string().contains(message), "{err}");
    }
    // A split that does not name every group.
    let file = s.file(
        "ok.csv",
        "customer_id,group\n1,control\n2,offer\n3,other\n4,control\n",
    );
    let mut o = options(Assignments::File(file));
    o.split = Some(vec![("control".into(), 50.0), ("offer".into(), 50.0)]);
    let err = run(&s, o).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("group(s) other that --split does not name"),
        "{err}"
    );
    // No start and no assigned_at.
    let file = s.file("nostart.csv", "customer_id,group\n1,control\n2,offer\n");
    let mut o = options(Assignments::File(file));
    o.start = None;
    let err = run(&s, o).await.unwrap_err();
    assert!(err.to_string().contains("no --start"), "{err}");
}
