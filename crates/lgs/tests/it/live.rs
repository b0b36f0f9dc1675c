//! The live state: the report's pass over the lines kept up to date from each
//! commit, read by the report instead of every line, and equal to the full
//! recomputation after any sequence of commits (appends, an invoice split across
//! two batches, compaction, a restore, a refresh that never happened, a state
//! write killed before its commit).

use std::path::Path;
use std::sync::Arc;

use lgs::analytics::{Analysis, Report, ReportOptions, run_analyses, run_report};
use lgs::live::{Change, STATE_TABLE, attach, refresh};
use lgs::warehouse::Pin;

use crate::common::{HEADER, Scratch};

/// The report over the live state, and over every line: they must be equal.
async fn both(s: &Scratch, analyses: Option<&[Arc<dyn Analysis>]>) -> (Report, Report) {
    let options = ReportOptions::default();
    let run = async |ctx| match analyses {
        Some(a) => run_analyses(&ctx, &options, a).await.unwrap(),
        None => run_report(&ctx, &options).await.unwrap(),
    };
    let (ctx, tables) = lgs::session::context_with_tables(&s.warehouse)
        .await
        .unwrap();
    let version = tables.iter().find(|t| t.name == "retail").unwrap().version;
    let attached = attach(&s.warehouse, &ctx, version).await.unwrap();
    assert!(attached.is_some(), "the state serves version {version}");
    (run(ctx).await, run(s.context().await).await)
}

/// Files of the state's current version.
async fn state_files(s: &Scratch) -> usize {
    let table = s.warehouse.open_existing(STATE_TABLE).await.unwrap();
    table.get_file_uris().unwrap().count()
}

fn small_analyses() -> Vec<Arc<dyn Analysis>> {
    use lgs::analytics::{cohorts, invoices, monthly, rfm};
    vec![
        Arc::new(invoices::InvoiceAmountsAnalysis),
        Arc::new(monthly::MonthlyAnalysis),
        Arc::new(rfm::RfmAnalysis),
        Arc::new(cohorts::CohortsAnalysis),
    ]
}

/// Hand-made lines whose figures were worked out by hand: invoice 1001 is split
/// across two batches and must count once (in orders and in its customer's
/// frequency), with its amounts added.
#[tokio::test]
async fn an_invoice_split_across_batches_counts_once_and_adds_up() {
    let s = Scratch::new();
    let a = s.file(
        "a.csv",
        format!(
            "{HEADER}\n\
             1001,P1,MUG,2,2010-01-05 10:00:00,5.00,101,United Kingdom\n\
             1001,P2,CUP,1,2010-01-05 10:00:00,5.00,101,United Kingdom\n\
             1002,P1,MUG,1,2010-01-20 09:00:00,5.00,102,France\n"
        ),
    );
    let b = s.file(
        "b.csv",
        format!(
            "{HEADER}\n\
             1001,P3,BOWL,1,2010-01-05 10:00:00,40.00,101,United Kingdom\n\
             C1003,P1,MUG,-1,2010-02-02 11:00:00,5.00,102,France\n\
             1004,P2,CUP,4,2010-02-03 12:00:00,2.50,103,Germany\n"
        ),
    );
    s.ingest(&[&a]).await.unwrap();
    let first = refresh(&s.warehouse).await.unwrap().unwrap();
    assert!(matches!(first.change, Change::Rebuilt { .. }), "{first:?}");
    assert_eq!((first.version, first.rows_written), (0, 2));

    // The ingest brings the state along (it exists now): only the new file is read.
    s.ingest(&[&b]).await.unwrap();
    let again = refresh(&s.warehouse).await.unwrap().unwrap();
    assert_eq!((again.version, again.change), (1, Change::Current));
    assert_eq!(state_files(&s).await, 2, "one file per refresh");

    let (live, full) = both(&s, Some(&small_analyses())).await;
    assert_eq!(live, full);
    let months = &live.part::<lgs::analytics::Monthly>().unwrap().monthly;
    let got: Vec<_> = months
        .iter()
        .map(|m| {
            (
                m.month.as_str(),
                m.placed_orders,
                m.cancelled_orders,
                m.sales,
                m.active_users,
                m.new_users,
            )
        })
        .collect();
    assert_eq!(
        got,
        [("2010-01", 2, 0, 60.0, 2, 2), ("2010-02", 1, 1, 5.0, 2, 1)]
    );
    let growth = months[1].sales_growth_pct.unwrap();
    assert!(
        (growth - (5.0 - 60.0) / 60.0 * 100.0).abs() < 1e-9,
        "{growth}"
    );
    let rfm = live.part::<lgs::analytics::Rfm>().unwrap();
    let c101 = rfm
        .rfm_customers
        .iter()
        .find(|c| c.customer_id == 101)
        .unwrap();
    // One invoice worth 55.00, 29 whole days before 2010-02-04 (the day after the
    // last invoice).
    assert_eq!((c101.frequency, c101.monetary, c101.recency), (1, 55.0, 29));
}

fn generated(dir: &Path, name: &str, rows: u64, seed: u64) -> std::path::PathBuf {
    let path = dir.join(name);
    let spec = lgs::generate::retail::RetailSpec {
        rows,
        seed,
        format: lgs::generate::retail::RetailFormat::Csv,
        threads: 1,
    };
    lgs::generate::retail::write_retail(&spec, &path, &|_| {}).unwrap();
    path
}

/// Appends, a refresh that never happened (a process killed between its commit to
/// retail and the state's), a state write killed before its commit, a compaction,
/// a restore and many small commits: after each, the report over the state is the
/// report over every line.
#[tokio::test]
async fn after_any_sequence_of_commits_the_report_equals_a_full_recomputation() {
    let s = Scratch::new();
    let dir = s.dir.path();
    let files: Vec<_> = (1..=3)
        .map(|i| generated(dir, &format!("g{i}.csv"), 30_000, i))
        .collect();
    s.ingest(&[&files[0]]).await.unwrap();
    refresh(&s.warehouse).await.unwrap();
    s.ingest(&[&files[1]]).await.unwrap();
    let (live, full) = both(&s, None).await;
    assert_eq!(live, full, "after an append");

    // Killed after the commit to retail, before the state's: the state's last
    // commit is gone, and a state file was written for nothing. The report reads
    // the commit the state lacks beside it; the next refresh adds just that.
    let log = s
        .dir
        .path()
        .join("warehouse")
        .join(STATE_TABLE)
        .join("_delta_log");
    std::fs::remove_file(log.join(format!("{:020}.json", 1))).unwrap();
    std::fs::write(
        log.parent().unwrap().join("part-killed.snappy.parquet"),
        b"PAR1 not finished",
    )
    .unwrap();
    let (live, full) = both(&s, None).await;
    assert_eq!(live, full, "with a refresh missing");
    let caught_up = refresh(&s.warehouse).await.unwrap().unwrap();
    assert_eq!(
        caught_up.change,
        Change::Added {
            commits: 1,
            files: 1
        }
    );
    // In proportion to the new lines: about one row per invoice of the 30,000
    // lines, not the table's.
    assert!(
        caught_up.rows_written > 0 && caught_up.rows_written < 5_000,
        "{caught_up:?}"
    );

    // A compaction changes no row: passed over, nothing rebuilt.
    s.warehouse.optimize("retail", false).await.unwrap();
    let after_optimize = refresh(&s.warehouse).await.unwrap().unwrap();
    assert_eq!(
        after_optimize.change,
        Change::Added {
            commits: 1,
            files: 0
        }
    );
    let (live, full) = both(&s, None).await;
    assert_eq!(live, full, "after optimize");

    // A restore removes rows: the state is rebuilt.
    s.ingest(&[&files[2]]).await.unwrap();
    s.warehouse
        .restore("retail", Pin::Version(0))
        .await
        .unwrap();
    let rebuilt = refresh(&s.warehouse).await.unwrap().unwrap();
    assert!(
        matches!(&rebuilt.change, Change::Rebuilt { reason } if reason.contains("removed rows")),
        "{rebuilt:?}"
    );
    let (live, full) = both(&s, None).await;
    assert_eq!(live, full, "after a restore");

    // Many small commits, each an append to the state (the ingest brings it
    // along): it is rewritten grouped before it has COMPACT_FILES files (it starts
    // at one and gets COMPACT_FILES appends), and still equals the lines.
    assert_eq!(state_files(&s).await, 1);
    for i in 0..lgs::live::COMPACT_FILES {
        let line = s.file(
            &format!("one{i}.csv"),
            format!(
                "{HEADER}\n{},P{i},THING,{},2011-12-0{} 1{}:00:00,1.25,{},France\n",
                900_000 + i / 2,
                i + 1,
                1 + i % 9,
                i % 10,
                20_000 + i % 5
            ),
        );
        s.ingest(&[&line]).await.unwrap();
        let state = refresh(&s.warehouse).await.unwrap().unwrap();
        assert_eq!(state.change, Change::Current, "the ingest brought it along");
        assert!(state_files(&s).await < lgs::live::COMPACT_FILES);
    }
    let (live, full) = both(&s, None).await;
    assert_eq!(live, full, "after many small commits");
}

/// A warehouse of 5,000 generated lines with a live state, and 5,000 more that the
/// ingest brought along.
async fn two_drops_with_a_state() -> Scratch {
    let s = Scratch::new();
    let dir = s.dir.path();
    s.ingest(&[&generated(dir, "g1.csv", 5_000, 1)])
        .await
        .unwrap();
    refresh(&s.warehouse).await.unwrap();
    s.ingest(&[&generated(dir, "g2.csv", 5_000, 2)])
        .await
        .unwrap();
    s
}

/// A report of the past reads the state when the state covers no later version;
/// otherwise it reads every line.
#[tokio::test]
async fn a_report_of_an_earlier_version_reads_every_line() {
    let s = two_drops_with_a_state().await;
    let (ctx, _) = lgs::session::context_with_tables(&s.warehouse)
        .await
        .unwrap();
    assert!(attach(&s.warehouse, &ctx, 0).await.unwrap().is_none());
    // No state at all: nothing attached, the report is the usual one.
    let other = Scratch::new();
    other
        .ingest(&[&generated(other.dir.path(), "g.csv", 1_000, 3)])
        .await
        .unwrap();
    let (ctx, _) = lgs::session::context_with_tables(&other.warehouse)
        .await
        .unwrap();
    assert!(attach(&other.warehouse, &ctx, 0).await.unwrap().is_none());
    assert!(!lgs::live::exists(&other.warehouse).await.unwrap());
}

/// The state is derived data: with one of its files gone, a report reads every line
/// (and says so), and the next refresh rebuilds it.
#[tokio::test]
async fn a_damaged_state_is_read_around_and_rebuilt() {
    let s = two_drops_with_a_state().await;
    let dir = s.dir.path();
    let state = dir.join("warehouse").join(STATE_TABLE);
    let file = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .unwrap();
    std::fs::remove_file(&file).unwrap();

    let (ctx, tables) = lgs::session::context_with_tables(&s.warehouse)
        .await
        .unwrap();
    let version = tables.iter().find(|t| t.name == "retail").unwrap().version;
    assert!(attach(&s.warehouse, &ctx, version).await.unwrap().is_none());
    let options = ReportOptions::default();
    let around = run_report(&ctx, &options).await.unwrap();
    assert_eq!(
        around,
        run_report(&s.context().await, &options).await.unwrap()
    );

    let rebuilt = refresh(&s.warehouse).await.unwrap().unwrap();
    assert!(
        matches!(&rebuilt.change, Change::Rebuilt { reason } if reason.contains("damaged")),
        "{rebuilt:?}"
    );
    let (live, full) = both(&s, None).await;
    assert_eq!(live, full);
}
